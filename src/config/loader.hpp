// The config loader's internals (config/*.cpp only; not part of the library's API): the helpers
// of messages (did-you-mean, quoting, node descriptions), the items of list sections, a
// scenario's overlay, and the Loader of typed fields, which records every error with its file,
// line, column and key path.
#pragma once

#include "config/config.hpp"
#include "config/yaml_source.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <sys/stat.h>
#include <type_traits>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>
#if __has_include(<yaml-cpp/depthguard.h>)
#include <yaml-cpp/depthguard.h> // YAML::DeepRecursion (yaml-cpp >= 0.7)
#define CHOKEPOINT_YAML_DEPTHGUARD 1
#endif

namespace chokepoint::config_detail {

namespace fs = std::filesystem;

constexpr std::size_t kMaxErrors = 50;
constexpr double kInf = std::numeric_limits<double>::infinity();

/// The longest id (docs/config-reference.md): ids name HDF5 groups and, for the study name, the
/// results file.
constexpr std::size_t kMaxIdLength = 128;
/// The longest free text of a product's `name` or `unit`.
constexpr std::size_t kMaxTextLength = 1024;
/// The most entries of run.correlations.
constexpr std::size_t kMaxCorrelations = 1000;
/// The most distinct country codes in a model.
constexpr std::size_t kMaxCountries = 1000;

/// Whether `s` is an id: [A-Za-z_][A-Za-z0-9_.-]*. A linear scan: std::regex_match recursed
/// once per character and overflowed the stack on an id of ~40,000 characters.
inline bool valid_id(std::string_view s) {
    const auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
    if (s.empty() || !(letter(s[0]) || s[0] == '_'))
        return false;
    return std::all_of(s.begin() + 1, s.end(), [&](char c) {
        return letter(c) || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    });
}

/// The edit distance of a and b, or `limit` + 1 when it exceeds `limit` (each row of the table
/// stops at its band |i - j| <= limit, so a pair costs O(min(|a|, |b|) * limit)).
inline std::size_t edit_distance(const std::string &a, const std::string &b, std::size_t limit) {
    const std::size_t n = a.size(), m = b.size(), over = limit + 1;
    if ((n > m ? n - m : m - n) > limit)
        return over;
    std::vector<std::size_t> prev(m + 1), cur(m + 1);
    for (std::size_t j = 0; j <= m; ++j)
        prev[j] = std::min(j, over);
    for (std::size_t i = 1; i <= n; ++i) {
        const std::size_t lo = i > limit ? i - limit : 1, hi = std::min(m, i + limit);
        cur[0] = std::min(i, over);
        if (lo > 1)
            cur[lo - 1] = over;
        std::size_t row_min = cur[0];
        for (std::size_t j = lo; j <= hi; ++j) {
            cur[j] =
                std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]), over});
            row_min = std::min(row_min, cur[j]);
        }
        if (hi < m)
            cur[hi + 1] = over;
        if (row_min >= over)
            return over;
        std::swap(prev, cur);
    }
    return std::min(prev[m], over);
}

/// The known name nearest to `key` (a "did you mean"), if one is close: at most max(2,
/// |key| / 3) edits away. Names longer than 64 characters get no suggestion, and the work is
/// bounded by the band of the edit distance, so a suggestion among 50,000 ids stays cheap.
template <class Names> std::string nearest(const std::string &key, const Names &known) {
    if (key.size() > 64)
        return {};
    const std::size_t limit = std::max<std::size_t>(2, key.size() / 3);
    std::string best;
    std::size_t bd = limit + 1;
    for (const auto &entry : known) {
        const std::string &k = [&]() -> const std::string & {
            if constexpr (std::is_convertible_v<decltype(entry), const std::string &>)
                return entry;
            else
                return entry.first;
        }();
        const std::size_t d = edit_distance(key, k, std::min(limit, bd));
        if (d < bd) {
            bd = d;
            best = k;
        }
    }
    return bd <= limit ? best : std::string();
}
inline std::string nearest(const std::string &key, std::initializer_list<std::string> known) {
    return nearest(key, std::vector<std::string>(known));
}

/// A value written by the user, quoted for a message: newlines shown as spaces, long values cut.
inline std::string quote(const std::string &v) {
    std::string s = v;
    std::replace(s.begin(), s.end(), '\n', ' ');
    if (s.size() > 60)
        s = s.substr(0, 57) + "...";
    return "'" + s + "'";
}

/// A key written by the user, as part of a key path in a message: cut when long.
inline std::string path_key(const std::string &k) {
    return k.size() > 64 ? k.substr(0, 61) + "..." : k;
}

// --- copies of YAML nodes that keep their marks -------------------------------------------------
//
// A scenario edits copies of the entities it changes. YAML::Clone drops the marks (line and
// column) of what it copies, and yaml-cpp has no public way to set a mark, so copy_marked()
// writes each original's mark (and tag) into the copy's tag, and mark_of() / tag_of() read them
// back: an error in a copied entity still names its line.
constexpr std::string_view kMarkTag = "!chokepoint-mark:";

inline YAML::Mark mark_of(const YAML::Node &n) {
    const auto m = n.Mark();
    if (m.line >= 0 || !n.IsDefined())
        return m;
    const std::string &t = n.Tag();
    YAML::Mark r = YAML::Mark::null_mark();
    if (t.compare(0, kMarkTag.size(), kMarkTag) == 0)
        std::sscanf(t.c_str() + kMarkTag.size(), "%d:%d", &r.line, &r.column);
    return r;
}

inline std::string tag_of(const YAML::Node &n) {
    const std::string &t = n.Tag();
    if (t.compare(0, kMarkTag.size(), kMarkTag) != 0)
        return t;
    const auto at = t.find('|');
    return at == std::string::npos ? std::string() : t.substr(at + 1);
}

inline YAML::Node copy_marked(const YAML::Node &n) {
    YAML::Node c;
    switch (n.Type()) {
    case YAML::NodeType::Scalar:
        c = YAML::Node(n.Scalar());
        break;
    case YAML::NodeType::Sequence:
        c = YAML::Node(YAML::NodeType::Sequence);
        for (const auto &e : n)
            c.push_back(copy_marked(e));
        break;
    case YAML::NodeType::Map:
        c = YAML::Node(YAML::NodeType::Map);
        for (const auto &kv : n)
            c[copy_marked(kv.first)] = copy_marked(kv.second);
        break;
    case YAML::NodeType::Null:
        c = YAML::Node(YAML::NodeType::Null);
        break;
    default:
        return c;
    }
    const auto m = mark_of(n);
    c.SetTag(std::string(kMarkTag) + std::to_string(m.line) + ":" + std::to_string(m.column) + "|" +
             tag_of(n));
    return c;
}

/// A short description of a node for messages: its value if it is a scalar, else its shape.
inline std::string show(const YAML::Node &n) {
    if (!n.IsDefined())
        return "nothing";
    if (n.IsNull())
        return "an empty value (nothing after the ':' or '-')";
    if (n.IsScalar())
        return quote(n.Scalar());
    if (n.IsSequence())
        return n.size() == 0
                   ? std::string("an empty list")
                   : "a list of " + std::to_string(n.size()) + (n.size() == 1 ? " item" : " items");
    if (n.IsMap()) {
        if (n.size() == 0)
            return "an empty map";
        std::string keys;
        std::size_t i = 0;
        for (const auto &kv : n) {
            if (i == 4) {
                keys += ", ...";
                break;
            }
            keys += (i++ ? ", " : "") + (kv.first.IsScalar() ? path_key(kv.first.Scalar()) : "?");
        }
        return "a map with key" + std::string(n.size() == 1 ? " " : "s ") + keys;
    }
    return "?";
}

/// "a, b, c" for messages.
inline std::string join(const std::vector<std::string> &v) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i)
        s += (i ? ", " : "") + v[i];
    return s;
}

struct Item {
    std::string file; // file this node came from
    YAML::Node node;
    std::string path; // e.g. facilities[3]
    /// In a scenario's build: the index of the baseline's entity this item is, unchanged (its
    /// parsed form can be reused), or -1.
    int base = -1;
};

/// A scenario's edits, applied by build() to the baseline's files without copying them: for each
/// section the scenario changes (set, add or remove), its entries, in order. Sections it does not
/// change are read from the files. `base` is the baseline model; its facilities and demands are
/// reused for unchanged entries when no product, factor or regime changes (their indices and the
/// distributions they may refer to are then the same).
struct Overlay {
    std::map<std::string, std::vector<Item>> sections;
    /// The scenario's `allocation:` map (the baseline's, edited by set: allocation/...), when
    /// it changes it.
    YAML::Node allocation;
    bool has_allocation = false;
    const Model *base = nullptr;
    bool reuse = false;
    const std::vector<Item> *find(const std::string &key) const {
        const auto it = sections.find(key);
        return it == sections.end() ? nullptr : &it->second;
    }
};

/// What a distribution is allowed to take.
struct Range {
    double lo = -kInf, hi = kInf;
    const char *rule = nullptr; // description, e.g. "must be >= 0"
};
inline const Range kAny{};
inline const Range kNonNeg{0.0, kInf, "must not be negative"};
inline const Range kUnit{0.0, 1.0, "must lie in [0, 1]"};
inline const Range kGrowth{-1.0, kInf, "must be >= -1 (a yearly rate)"};
/// Outages a year: each is simulated (a draw of its duration and loss), so an absurd rate would
/// make a trial run for ever; 1,000 a year (about 3 a day) is far past any monthly model's use.
inline const Range kOutageRate{0.0, 1000.0,
                               "must lie in [0, 1000] (outages a year; each one is simulated)"};

class Loader {
public:
    std::vector<Diagnostic> diags;
    Model m;

    /// Errors not recorded because kMaxErrors were already recorded.
    std::size_t dropped = 0;

    void error(const std::string &file, const YAML::Node &n, const std::string &path,
               const std::string &msg) {
        if (diags.size() >= kMaxErrors) {
            ++dropped;
            return;
        }
        Diagnostic d{file, 0, 0, path, msg};
        if (n.IsDefined()) {
            const auto mark = mark_of(n);
            if (mark.line >= 0) {
                d.line = mark.line + 1;
                d.column = mark.column + 1;
                if (n.IsNull())
                    place_empty_value(file, d);
            }
        } else {
            // An absent key: every accessor is only called on an absent node for a required
            // key (optional ones are tested first). Point at the map that lacks it.
            const auto dot = path.rfind('.');
            const std::string key = dot == std::string::npos ? path : path.substr(dot + 1);
            const std::string parent = dot == std::string::npos ? "" : path.substr(0, dot);
            d.message = "missing required key '" + key + "'";
            const auto it = map_marks.find(parent);
            if (it != map_marks.end()) {
                d.line = it->second.line + 1;
                d.column = it->second.column + 1;
            }
        }
        if (n.IsDefined())
            d.message += unclosed_quote_hint(file, n);
        diags.push_back(std::move(d));
    }

    /// The text of line `line` (0-based) of config file `file`, if it is known.
    std::optional<std::string> source_line(const std::string &file, int line) const {
        for (const auto &cf : m.files) {
            if (cf.path != file)
                continue;
            std::size_t pos = 0;
            for (int l = 0; l < line; ++l) {
                pos = cf.text.find('\n', pos);
                if (pos == std::string::npos)
                    return std::nullopt;
                ++pos;
            }
            const auto eol = cf.text.find('\n', pos);
            return cf.text.substr(pos, eol == std::string::npos ? eol : eol - pos);
        }
        return std::nullopt;
    }

    /// yaml-cpp places an empty value (`key:` or `-` with nothing after it) at the next token,
    /// often the next line. Move the diagnostic back to the end of the line that holds the key or
    /// dash, skipping blank and comment-only lines.
    void place_empty_value(const std::string &file, Diagnostic &d) const {
        const auto cur = source_line(file, d.line - 1);
        if (!cur)
            return;
        const auto before = cur->substr(
            0, std::min<std::size_t>(cur->size(), static_cast<std::size_t>(d.column - 1)));
        if (before.find_first_not_of(" \t\r") != std::string::npos)
            return; // something precedes the mark on its line: the mark is right
        for (int l = d.line - 2; l >= 0; --l) {
            auto text = source_line(file, l);
            if (!text)
                return;
            std::string t = *text;
            if (const auto hash = t.find(" #"); hash != std::string::npos)
                t = t.substr(0, hash);
            if (!t.empty() && t.find_first_not_of(" \t\r") == std::string::npos)
                continue;
            const auto first = t.find_first_not_of(" \t\r");
            if (first == std::string::npos || t[first] == '#')
                continue;
            const auto last = t.find_last_not_of(" \t\r");
            d.line = l + 1;
            d.column = static_cast<int>(last) + 1;
            return;
        }
    }

    /// For a quoted value whose closing quote is not on the line where it opens (legal YAML, but in
    /// a config nearly always a forgotten quote that swallowed the lines below): a hint saying so.
    std::string unclosed_quote_hint(const std::string &file, const YAML::Node &n) const {
        if (!n.IsScalar() || tag_of(n) != "!")
            return {};
        const auto mark = mark_of(n);
        if (mark.line < 0)
            return {};
        const auto line = source_line(file, mark.line);
        const auto col = static_cast<std::size_t>(mark.column);
        if (!line || col >= line->size() || ((*line)[col] != '"' && (*line)[col] != '\''))
            return {};
        const char q = (*line)[col];
        for (std::size_t i = col + 1; i < line->size(); ++i) {
            if (q == '"' && (*line)[i] == '\\') {
                ++i;
                continue;
            }
            if ((*line)[i] == q) {
                if (q == '\'' && i + 1 < line->size() && (*line)[i + 1] == '\'') {
                    ++i; // '' is an escaped quote
                    continue;
                }
                return {};
            }
        }
        return std::string(" (the quoted value opened on line ") + std::to_string(mark.line + 1) +
               " is not closed on that line and runs on over the lines below: is a closing " + q +
               " missing?)";
    }

    /// Where each map checked so far starts, by key path (to place "missing key" errors).
    std::unordered_map<std::string, YAML::Mark> map_marks;

    bool check_map(const std::string &f, const YAML::Node &n, const std::string &path,
                   const std::vector<std::string> &allowed) {
        if (!n.IsDefined()) {
            error(f, n, path, "");
            return false;
        }
        if (!n.IsMap()) {
            error(f, n, path, "expected a map (key: value entries), found " + show(n));
            return false;
        }
        map_marks[path] = mark_of(n);
        std::set<std::string> seen;
        for (const auto &kv : n) {
            if (!kv.first.IsScalar()) {
                error(f, kv.first, path,
                      "a key must be a plain name, found " + show(kv.first) +
                          "; expected one of: " + join(allowed));
                continue;
            }
            const std::string key = kv.first.Scalar();
            const std::string kp = path.empty() ? path_key(key) : path + "." + path_key(key);
            if (!seen.insert(key).second)
                error(f, kv.first, kp,
                      "duplicate key " + quote(key) + ": each key may appear once in a map");
            if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
                std::string msg = "unknown key " + quote(key);
                const auto near = nearest(key, allowed);
                if (!near.empty())
                    msg += " (did you mean '" + near + "'?)";
                msg += "; expected one of: " + join(allowed);
                error(f, kv.first, kp, msg);
            }
        }
        return true;
    }

    std::optional<double> number(const std::string &f, const YAML::Node &n,
                                 const std::string &path) {
        if (!n.IsDefined() || !n.IsScalar()) {
            error(f, n, path, "expected a number, found " + show(n));
            return std::nullopt;
        }
        const std::string &s = n.Scalar();
        char *end = nullptr;
        errno = 0;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v)) {
            error(f, n, path, "expected a finite number, found " + quote(s));
            return std::nullopt;
        }
        return v;
    }

    std::optional<std::uint64_t> unsigned_int(const std::string &f, const YAML::Node &n,
                                              const std::string &path, std::uint64_t min,
                                              std::uint64_t max) {
        if (!n.IsDefined() || !n.IsScalar()) {
            error(f, n, path, "expected a whole number, found " + show(n));
            return std::nullopt;
        }
        const std::string &s = n.Scalar();
        if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) {
            error(f, n, path,
                  "expected a whole number >= " + std::to_string(min) + ", found " + quote(s));
            return std::nullopt;
        }
        errno = 0;
        const unsigned long long v = std::strtoull(s.c_str(), nullptr, 10);
        if (errno == ERANGE || v < min || v > max) {
            error(f, n, path,
                  "value " + quote(s) + " out of range: must be in [" + std::to_string(min) + ", " +
                      std::to_string(max) + "]");
            return std::nullopt;
        }
        return v;
    }

    std::optional<std::string> string(const std::string &f, const YAML::Node &n,
                                      const std::string &path) {
        if (!n.IsDefined() || !n.IsScalar()) {
            error(f, n, path, "expected a string, found " + show(n));
            return std::nullopt;
        }
        return n.Scalar();
    }

    std::optional<bool> boolean(const std::string &f, const YAML::Node &n,
                                const std::string &path) {
        if (n.IsDefined() && n.IsScalar()) {
            const auto &s = n.Scalar();
            if (s == "true" || s == "True" || s == "yes")
                return true;
            if (s == "false" || s == "False" || s == "no")
                return false;
        }
        error(f, n, path, "expected true or false, found " + show(n));
        return std::nullopt;
    }

    std::optional<std::string> identifier(const std::string &f, const YAML::Node &n,
                                          const std::string &path) {
        auto s = string(f, n, path);
        if (!s)
            return s;
        if (!valid_id(*s)) {
            error(f, n, path,
                  "bad id " + quote(*s) +
                      ": ids start with a letter or '_' and use letters, digits, '_', '.', '-'");
            return std::nullopt;
        }
        if (s->size() > kMaxIdLength) {
            error(f, n, path,
                  "id " + quote(*s) + " is " + std::to_string(s->size()) +
                      " characters long: ids have at most " + std::to_string(kMaxIdLength));
            return std::nullopt;
        }
        return s;
    }

    /// A free-text string (a product's name or unit) of at most kMaxTextLength characters.
    std::optional<std::string> text(const std::string &f, const YAML::Node &n,
                                    const std::string &path) {
        auto s = string(f, n, path);
        if (s && s->size() > kMaxTextLength) {
            error(f, n, path,
                  "text " + quote(*s) + " is " + std::to_string(s->size()) +
                      " characters long: at most " + std::to_string(kMaxTextLength) +
                      " are allowed here");
            return std::nullopt;
        }
        return s;
    }

    // --- distributions ---------------------------------------------------------------

    std::map<std::string, int> factor_index;
    std::map<std::string, int> regime_index;

    std::optional<Dist> dist(const std::string &f, const YAML::Node &n, const std::string &path,
                             const Range &range) {
        auto d = dist_raw(f, n, path, range);
        if (!d)
            return d;
        const auto [lo, hi] = d->support(&factor_dists);
        // Exactly the documented rule, no tolerance: -1e-300 is negative (-0.0 is zero).
        if (range.rule && (lo < range.lo || hi > range.hi)) {
            std::ostringstream os;
            if (d->kind == Dist::Kind::Fixed)
                os << "value " << d->describe() << " " << range.rule;
            else
                os << "distribution " << d->describe() << " can take values in [" << lo << ", "
                   << hi << "], but this quantity " << range.rule;
            error(f, n, path, os.str());
            return std::nullopt;
        }
        return d;
    }

    std::vector<Dist> factor_dists;

    std::optional<Dist> dist_raw(const std::string &f, const YAML::Node &n, const std::string &path,
                                 const Range &range) {
        if (!n.IsDefined()) {
            error(f, n, path, "");
            return std::nullopt;
        }
        if (n.IsScalar()) {
            auto v = number(f, n, path);
            if (!v)
                return std::nullopt;
            return Dist::fixed(*v);
        }
        if (!n.IsMap() || n.size() != 1) {
            error(f, n, path,
                  "expected a number or a one-key map naming a distribution (e.g. {pert: {min: 1, "
                  "mode: 2, max: 3}}), found " +
                      show(n));
            return std::nullopt;
        }
        static const std::vector<std::string> kinds{
            "fixed", "uniform",     "triangular", "pert",     "normal", "lognormal", "beta",
            "gamma", "exponential", "bernoulli",  "discrete", "factor", "product",   "by_regime"};
        const auto kv = *n.begin();
        const std::string kind = kv.first.Scalar();
        const YAML::Node p = kv.second;
        const std::string pp = path + "." + path_key(kind);
        auto num = [&](const char *key) -> std::optional<double> {
            return number(f, p[key], pp + "." + key);
        };
        auto positive = [&](const char *key) -> std::optional<double> {
            auto v = num(key);
            if (v && *v <= 0) {
                error(f, p[key], pp + "." + key, "value " + fmt(*v) + " must be > 0");
                return std::nullopt;
            }
            return v;
        };
        if (kind == "fixed") {
            auto v = number(f, p, pp);
            if (!v)
                return std::nullopt;
            return Dist::fixed(*v);
        }
        if (kind == "uniform") {
            if (!check_map(f, p, pp, {"min", "max"}))
                return std::nullopt;
            auto lo = num("min"), hi = num("max");
            if (!lo || !hi)
                return std::nullopt;
            if (*lo > *hi) {
                error(f, p, pp, "min " + fmt(*lo) + " > max " + fmt(*hi) + ": need min <= max");
                return std::nullopt;
            }
            return Dist::uniform(*lo, *hi);
        }
        if (kind == "triangular" || kind == "pert") {
            std::vector<std::string> keys{"min", "mode", "max"};
            if (kind == "pert")
                keys.push_back("lambda");
            if (!check_map(f, p, pp, keys))
                return std::nullopt;
            auto lo = num("min"), mode = num("mode"), hi = num("max");
            if (!lo || !mode || !hi)
                return std::nullopt;
            if (!(*lo <= *mode && *mode <= *hi)) {
                error(f, p, pp,
                      "need min <= mode <= max, found min " + fmt(*lo) + ", mode " + fmt(*mode) +
                          ", max " + fmt(*hi));
                return std::nullopt;
            }
            if (kind == "triangular")
                return Dist::triangular(*lo, *mode, *hi);
            double lambda = 4;
            if (p["lambda"]) {
                auto l = positive("lambda");
                if (!l)
                    return std::nullopt;
                lambda = *l;
            }
            return Dist::pert(*lo, *mode, *hi, lambda);
        }
        if (kind == "normal") {
            if (!check_map(f, p, pp, {"mean", "sd", "min", "max"}))
                return std::nullopt;
            auto mean = num("mean");
            auto sd = positive("sd");
            if (!mean || !sd)
                return std::nullopt;
            double lo = -kInf, hi = kInf;
            if (p["min"]) {
                auto v = num("min");
                if (!v)
                    return std::nullopt;
                lo = *v;
            }
            if (p["max"]) {
                auto v = num("max");
                if (!v)
                    return std::nullopt;
                hi = *v;
            }
            // Quantities that cannot fall outside their range are truncated to it.
            lo = std::max(lo, range.lo);
            hi = std::min(hi, range.hi);
            if (!(lo < hi)) {
                std::string why = "truncation interval [" + fmt(lo) + ", " + fmt(hi) +
                                  "] is empty: need min < max";
                if (range.rule && (lo == range.lo || hi == range.hi))
                    why += " (this quantity " + std::string(range.rule) +
                           ", so it is also truncated to [" + fmt(range.lo) + ", " + fmt(range.hi) +
                           "])";
                error(f, p, pp, why);
                return std::nullopt;
            }
            return Dist::normal(*mean, *sd, lo, hi);
        }
        if (kind == "lognormal") {
            if (!check_map(f, p, pp, {"median", "sigma", "mean", "sd"}))
                return std::nullopt;
            if (p["median"] || p["sigma"]) {
                if (p["mean"] || p["sd"]) {
                    error(f, p, pp, "give either median and sigma, or mean and sd, not both");
                    return std::nullopt;
                }
                auto med = positive("median"), sig = positive("sigma");
                if (!med || !sig)
                    return std::nullopt;
                return Dist::lognormal_median(*med, *sig);
            }
            auto mean = positive("mean"), sd = positive("sd");
            if (!mean || !sd)
                return std::nullopt;
            return Dist::lognormal_moments(*mean, *sd);
        }
        if (kind == "beta") {
            if (!check_map(f, p, pp, {"a", "b", "min", "max"}))
                return std::nullopt;
            auto a = positive("a"), b = positive("b");
            if (!a || !b)
                return std::nullopt;
            double lo = 0, hi = 1;
            if (p["min"]) {
                auto v = num("min");
                if (!v)
                    return std::nullopt;
                lo = *v;
            }
            if (p["max"]) {
                auto v = num("max");
                if (!v)
                    return std::nullopt;
                hi = *v;
            }
            if (!(lo < hi)) {
                error(f, p, pp, "need min < max, found min " + fmt(lo) + ", max " + fmt(hi));
                return std::nullopt;
            }
            return Dist::beta(*a, *b, lo, hi);
        }
        if (kind == "gamma") {
            if (!check_map(f, p, pp, {"shape", "scale", "mean", "sd"}))
                return std::nullopt;
            if (p["shape"] || p["scale"]) {
                if (p["mean"] || p["sd"]) {
                    error(f, p, pp, "give either shape and scale, or mean and sd, not both");
                    return std::nullopt;
                }
                auto k = positive("shape"), th = positive("scale");
                if (!k || !th)
                    return std::nullopt;
                return Dist::gamma(*k, *th);
            }
            auto mean = positive("mean"), sd = positive("sd");
            if (!mean || !sd)
                return std::nullopt;
            return Dist::gamma((*mean * *mean) / (*sd * *sd), (*sd * *sd) / *mean);
        }
        if (kind == "exponential") {
            if (!check_map(f, p, pp, {"mean", "rate"}))
                return std::nullopt;
            if (p["mean"] && p["rate"]) {
                error(f, p, pp, "give either mean or rate, not both");
                return std::nullopt;
            }
            if (p["rate"]) {
                auto r = positive("rate");
                if (!r)
                    return std::nullopt;
                return Dist::exponential(1.0 / *r);
            }
            auto mean = positive("mean");
            if (!mean)
                return std::nullopt;
            return Dist::exponential(*mean);
        }
        if (kind == "bernoulli") {
            if (!check_map(f, p, pp, {"p"}))
                return std::nullopt;
            auto pr = num("p");
            if (!pr)
                return std::nullopt;
            if (*pr < 0 || *pr > 1) {
                error(f, p["p"], pp + ".p", "probability " + fmt(*pr) + " must lie in [0, 1]");
                return std::nullopt;
            }
            return Dist::bernoulli(*pr);
        }
        if (kind == "discrete") {
            if (!check_map(f, p, pp, {"values", "weights"}))
                return std::nullopt;
            const auto vals = p["values"];
            if (!vals.IsDefined() || !vals.IsSequence() || vals.size() == 0) {
                error(f, vals, pp + ".values",
                      "expected a non-empty list of numbers, found " + show(vals));
                return std::nullopt;
            }
            std::vector<double> v, w;
            bool ok = true;
            for (std::size_t i = 0; i < vals.size(); ++i) {
                auto x = number(f, vals[i], pp + ".values[" + std::to_string(i) + "]");
                ok = ok && x;
                if (x)
                    v.push_back(*x);
            }
            if (p["weights"]) {
                const auto ws = p["weights"];
                if (!ws.IsSequence() || ws.size() != vals.size()) {
                    error(f, ws, pp + ".weights",
                          "expected a list of " + std::to_string(vals.size()) +
                              " weights (one per value), found " + show(ws));
                    return std::nullopt;
                }
                double total = 0;
                for (std::size_t i = 0; i < ws.size(); ++i) {
                    const auto wp = pp + ".weights[" + std::to_string(i) + "]";
                    auto x = number(f, ws[i], wp);
                    if (x && *x < 0) {
                        error(f, ws[i], wp, "weight " + fmt(*x) + " must not be negative");
                        x.reset();
                    }
                    ok = ok && x;
                    if (x) {
                        w.push_back(*x);
                        total += *x;
                    }
                }
                if (ok && !(total > 0)) {
                    error(f, ws, pp + ".weights",
                          "weights must sum to a positive number (they are all 0)");
                    ok = false;
                }
            } else {
                w.assign(v.size(), 1.0);
            }
            if (!ok)
                return std::nullopt;
            return Dist::discrete(std::move(v), std::move(w));
        }
        if (kind == "factor") {
            auto id = string(f, p, pp);
            if (!id)
                return std::nullopt;
            const auto it = factor_index.find(*id);
            if (it == factor_index.end()) {
                std::string msg = "unknown factor " + quote(*id);
                const auto near = nearest(*id, factor_index);
                if (!near.empty())
                    msg += " (did you mean '" + near + "'?)";
                error(f, p, pp, msg);
                return std::nullopt;
            }
            Dist d;
            d.kind = Dist::Kind::Factor;
            d.factor = it->second;
            return d;
        }
        if (kind == "product") {
            if (!p.IsSequence() || p.size() == 0) {
                error(f, p, pp, "expected a non-empty list of distributions, found " + show(p));
                return std::nullopt;
            }
            Dist d;
            d.kind = Dist::Kind::Product;
            for (std::size_t i = 0; i < p.size(); ++i) {
                auto ch = dist(f, p[i], pp + "[" + std::to_string(i) + "]", kAny);
                if (!ch)
                    return std::nullopt;
                d.children.push_back(std::move(*ch));
            }
            return d;
        }
        if (kind == "by_regime") {
            std::vector<std::string> allowed{"default"};
            for (const auto &r : m.regimes)
                allowed.push_back(r.id);
            if (!check_map(f, p, pp, allowed))
                return std::nullopt;
            std::optional<Dist> def;
            if (p["default"]) {
                def = dist(f, p["default"], pp + ".default", range);
                if (!def)
                    return std::nullopt;
            }
            Dist d;
            d.kind = Dist::Kind::ByRegime;
            for (const auto &r : m.regimes) {
                if (p[r.id]) {
                    auto ch = dist(f, p[r.id], pp + "." + r.id, range);
                    if (!ch)
                        return std::nullopt;
                    d.children.push_back(std::move(*ch));
                } else if (def) {
                    d.children.push_back(*def);
                } else {
                    error(f, p, pp,
                          "no distribution for regime '" + r.id +
                              "' and no 'default'; give one for '" + r.id +
                              "' or a 'default' for the regimes not listed");
                    return std::nullopt;
                }
            }
            return d;
        }
        std::string msg = "unknown distribution " + quote(kind);
        const auto near = nearest(kind, kinds);
        if (!near.empty())
            msg += " (did you mean '" + near + "'?)";
        msg += "; known: fixed, uniform, triangular, pert, normal, lognormal, beta, gamma, "
               "exponential, bernoulli, discrete, factor, product, by_regime";
        error(f, kv.first, pp, msg);
        return std::nullopt;
    }

    static std::string fmt(double v) {
        std::ostringstream os;
        os << v;
        return os.str();
    }

    // --- countries -------------------------------------------------------------------

    std::map<std::string, std::vector<std::string>> groups; // group id -> country codes
    std::map<std::string, int> country_index;

    int country(const std::string &code) {
        const auto it = country_index.find(code);
        if (it != country_index.end())
            return it->second;
        const int i = static_cast<int>(m.countries.size());
        m.countries.push_back(code);
        country_index.emplace(code, i);
        return i;
    }

    /// Country codes: [A-Z][A-Z0-9_]{1,15}.
    static bool valid_country_code(const std::string &s) {
        if (s.size() < 2 || s.size() > 16 || !(s[0] >= 'A' && s[0] <= 'Z'))
            return false;
        return std::all_of(s.begin() + 1, s.end(), [](char c) {
            return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        });
    }

    /// A country set in any of its written forms; resolved after all countries are known.
    struct CountrySet {
        bool all = false, except = false;
        std::set<std::string> codes;
        /// The codes written as codes (not through a group), where: a code that no facility or
        /// demand has names nobody, most likely a typo (reported, Model::unplaced_countries).
        std::vector<std::pair<std::string, Diagnostic>> written;
    };

    std::optional<CountrySet> country_set(const std::string &f, const YAML::Node &n,
                                          const std::string &path) {
        if (!n.IsDefined()) {
            error(f, n, path, "");
            return std::nullopt;
        }
        CountrySet cs;
        auto add = [&](const YAML::Node &e, const std::string &p) -> bool {
            auto s = string(f, e, p);
            if (!s)
                return false;
            if (*s == "all") {
                cs.all = true;
                return true;
            }
            const auto g = groups.find(*s);
            if (g != groups.end()) {
                cs.codes.insert(g->second.begin(), g->second.end());
                return true;
            }
            if (!valid_country_code(*s)) {
                std::string msg =
                    quote(*s) +
                    " is neither a country group nor a country code (upper-case, e.g. CN, US)";
                const auto near = nearest(*s, groups);
                if (!near.empty())
                    msg += " (did you mean group '" + near + "'?)";
                error(f, e, p, msg);
                return false;
            }
            cs.codes.insert(*s);
            const auto mark = mark_of(e);
            cs.written.emplace_back(*s, Diagnostic{f, mark.line >= 0 ? mark.line + 1 : 0,
                                                   mark.line >= 0 ? mark.column + 1 : 0, p, ""});
            return true;
        };
        if (n.IsScalar()) {
            if (!add(n, path))
                return std::nullopt;
        } else if (n.IsSequence()) {
            if (n.size() == 0) {
                error(f, n, path,
                      "empty country list: give at least one country or group, or 'all'");
                return std::nullopt;
            }
            bool ok = true;
            for (std::size_t i = 0; i < n.size(); ++i)
                ok = add(n[i], path + "[" + std::to_string(i) + "]") && ok;
            if (!ok)
                return std::nullopt;
        } else if (n.IsMap()) {
            if (!check_map(f, n, path, {"all_except"}))
                return std::nullopt;
            auto inner = country_set(f, n["all_except"], path + ".all_except");
            if (!inner)
                return std::nullopt;
            inner->except = true;
            return inner;
        } else {
            error(f, n, path,
                  "expected a country, a group, a list of them, 'all' or {all_except: [...]}, "
                  "found " +
                      show(n));
            return std::nullopt;
        }
        for (const auto &c : cs.codes)
            country(c);
        return cs;
    }

    std::vector<char> resolve(const CountrySet &cs) {
        std::vector<char> mask(m.countries.size(), 0);
        for (std::size_t i = 0; i < m.countries.size(); ++i) {
            const bool in = cs.all || cs.codes.count(m.countries[i]);
            mask[i] = cs.except ? !in : in;
        }
        return mask;
    }

    // --- products --------------------------------------------------------------------

    std::map<std::string, int> product_index;

    std::optional<int> product_ref(const std::string &f, const YAML::Node &n,
                                   const std::string &path) {
        auto s = string(f, n, path);
        if (!s)
            return std::nullopt;
        const auto it = product_index.find(*s);
        if (it == product_index.end()) {
            std::string msg = "unknown product " + quote(*s);
            const auto near = nearest(*s, product_index);
            if (!near.empty())
                msg += " (did you mean '" + near + "'?)";
            error(f, n, path, msg);
            return std::nullopt;
        }
        return it->second;
    }

    std::vector<char> product_mask(const std::string &f, const YAML::Node &n,
                                   const std::string &path) {
        std::vector<char> mask(m.products.size(), 0);
        if (!n.IsDefined()) {
            std::fill(mask.begin(), mask.end(), 1);
            return mask;
        }
        if (!n.IsSequence() || n.size() == 0) {
            error(f, n, path, "expected a non-empty list of product ids, found " + show(n));
            return mask;
        }
        for (std::size_t i = 0; i < n.size(); ++i)
            if (auto p = product_ref(f, n[i], path + "[" + std::to_string(i) + "]"))
                mask[static_cast<std::size_t>(*p)] = 1;
        return mask;
    }
};

/// Assigns `id` to the item, reporting a duplicate.
template <class Map>
std::optional<std::string> unique_id(Loader &L, const Item &it, Map &index, const char *what);

} // namespace chokepoint::config_detail
