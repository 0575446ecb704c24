#include "config/config.hpp"

#include "model/inputs.hpp"
#include "sampling/run_design.hpp"

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

namespace chokepoint {

namespace fs = std::filesystem;

namespace {

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
bool valid_id(std::string_view s) {
    const auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
    if (s.empty() || !(letter(s[0]) || s[0] == '_'))
        return false;
    return std::all_of(s.begin() + 1, s.end(), [&](char c) {
        return letter(c) || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    });
}

/// The edit distance of a and b, or `limit` + 1 when it exceeds `limit` (each row of the table
/// stops at its band |i - j| <= limit, so a pair costs O(min(|a|, |b|) * limit)).
std::size_t edit_distance(const std::string &a, const std::string &b, std::size_t limit) {
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
std::string nearest(const std::string &key, std::initializer_list<std::string> known) {
    return nearest(key, std::vector<std::string>(known));
}

/// A value written by the user, quoted for a message: newlines shown as spaces, long values cut.
std::string quote(const std::string &v) {
    std::string s = v;
    std::replace(s.begin(), s.end(), '\n', ' ');
    if (s.size() > 60)
        s = s.substr(0, 57) + "...";
    return "'" + s + "'";
}

/// A key written by the user, as part of a key path in a message: cut when long.
std::string path_key(const std::string &k) {
    return k.size() > 64 ? k.substr(0, 61) + "..." : k;
}

// --- copies of YAML nodes that keep their marks -------------------------------------------------
//
// A scenario edits copies of the entities it changes. YAML::Clone drops the marks (line and
// column) of what it copies, and yaml-cpp has no public way to set a mark, so copy_marked()
// writes each original's mark (and tag) into the copy's tag, and mark_of() / tag_of() read them
// back: an error in a copied entity still names its line.
constexpr std::string_view kMarkTag = "!chokepoint-mark:";

YAML::Mark mark_of(const YAML::Node &n) {
    const auto m = n.Mark();
    if (m.line >= 0 || !n.IsDefined())
        return m;
    const std::string &t = n.Tag();
    YAML::Mark r = YAML::Mark::null_mark();
    if (t.compare(0, kMarkTag.size(), kMarkTag) == 0)
        std::sscanf(t.c_str() + kMarkTag.size(), "%d:%d", &r.line, &r.column);
    return r;
}

std::string tag_of(const YAML::Node &n) {
    const std::string &t = n.Tag();
    if (t.compare(0, kMarkTag.size(), kMarkTag) != 0)
        return t;
    const auto at = t.find('|');
    return at == std::string::npos ? std::string() : t.substr(at + 1);
}

YAML::Node copy_marked(const YAML::Node &n) {
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
std::string show(const YAML::Node &n) {
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
std::string join(const std::vector<std::string> &v) {
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
const Range kAny{};
const Range kNonNeg{0.0, kInf, "must not be negative"};
const Range kUnit{0.0, 1.0, "must lie in [0, 1]"};
const Range kGrowth{-1.0, kInf, "must be >= -1 (a yearly rate)"};

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

struct ParsedFile {
    std::string path;
    YAML::Node root;
};

/// A config bigger than this is refused rather than read (and e.g. /dev/zero never ends).
constexpr std::size_t kMaxConfigBytes = std::size_t(64) << 20;

[[noreturn]] void file_error(const std::string &path, const std::string &msg, int line = 0,
                             int column = 0, const std::string &key = "") {
    throw InputError(std::vector<Diagnostic>{{path, line, column, key, msg}});
}

/// Reads a config file; throws InputError naming it, and saying why, when it cannot. Only a
/// regular file is read: it is opened without blocking and checked (fstat) before reading, so
/// that a FIFO (which would block open() until a writer comes), a device (/dev/zero never ends)
/// or a socket is refused at once.
std::string read_file(const std::string &path) {
    if (path.empty())
        file_error(path, "no config file given (empty path)");
    const int fd = open_regular_file(path, "config file");
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) > kMaxConfigBytes)
        file_error(path, "larger than " + std::to_string(kMaxConfigBytes >> 20) +
                             " MiB: not a config file");
    std::string text;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            file_error(path, std::string("cannot read config file (") + std::strerror(errno) + ")");
        if (n == 0)
            break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > kMaxConfigBytes)
            file_error(path, "larger than " + std::to_string(kMaxConfigBytes >> 20) +
                                 " MiB: not a config file");
    }
    return text;
}

/// Line and column (1-based) of byte `pos` of `text`.
std::pair<int, int> line_col(const std::string &text, std::size_t pos) {
    const int line = 1 + static_cast<int>(std::count(
                             text.begin(), text.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
    const auto bol = pos == 0 ? std::string::npos : text.rfind('\n', pos - 1);
    const int col = static_cast<int>(bol == std::string::npos ? pos + 1 : pos - bol);
    return {line, col};
}

/// Position of the first byte that is not part of valid UTF-8, or npos.
std::size_t invalid_utf8(const std::string &s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        unsigned min = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            min = 0x10000;
        } else {
            return i;
        }
        unsigned cp = c & (0x3Fu >> n);
        for (std::size_t k = 1; k <= n; ++k) {
            if (i + k >= s.size())
                return i;
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n + 1;
    }
    return std::string::npos;
}

/// yaml-cpp's message, with a hint a newcomer can act on for the common ones.
std::string syntax_message(const std::string &msg) {
    static const std::vector<std::pair<std::string, std::string>> hints{
        {YAML::ErrorMsg::MAP_VALUE,
         "a 'key: value' where none can start; check this line's indentation against the lines "
         "above (keys of one map line up), and quote a value that contains ': '"},
        {YAML::ErrorMsg::MAP_KEY,
         "a map key where none can start; check the indentation of this line"},
        {YAML::ErrorMsg::END_OF_MAP,
         "a map ends unexpectedly; check the indentation (keys of one map must line up)"},
        {YAML::ErrorMsg::END_OF_SEQ,
         "a list ends unexpectedly; check the indentation (the '- ' items of one list line up, "
         "and the keys of an item line up with its first key)"},
        {YAML::ErrorMsg::END_OF_MAP_FLOW, "a '{' is not closed by a '}'"},
        {YAML::ErrorMsg::END_OF_SEQ_FLOW, "a '[' is not closed by a ']'"},
        {YAML::ErrorMsg::FLOW_END, "a ']' or '}' without its opening '[' or '{'"},
        {YAML::ErrorMsg::BLOCK_ENTRY,
         "a '- ' list item where none can start; check the indentation of this line, and that "
         "every '{' and '[' above it is closed"},
        {YAML::ErrorMsg::EOF_IN_SCALAR, "a quoted string is not closed; add the closing quote"},
        {YAML::ErrorMsg::UNKNOWN_ANCHOR,
         "'*name' refers to an anchor '&name' that is not defined before it"},
        {YAML::ErrorMsg::INVALID_ESCAPE,
         "in a double-quoted string '\\' starts an escape; use single quotes, or write '\\\\'"},
        {YAML::ErrorMsg::UNKNOWN_TOKEN, "a character YAML does not allow here"},
    };
    for (const auto &[m, hint] : hints)
        if (msg.rfind(m, 0) == 0)
            return "YAML syntax error: " + msg + ": " + hint;
    return "YAML syntax error: " + msg;
}

/// The most YAML nodes (every key, value and list item) a config file may hold: yaml-cpp keeps
/// ~0.7 KB per node, so this bounds the parsed tree near 1.4 GB (a 50,000-facility config has
/// about 1,000,000).
constexpr std::uint64_t kMaxNodes = 2'000'000;
/// The most nodes aliases (`*name`) may add to a file when expanded: the loader walks the
/// expanded tree, and nested aliases (`&a [x, x]`, `&b [*a, *a]`, ...) double it at each level.
constexpr std::uint64_t kMaxAliasNodes = 1'000'000;

/// Counts the documents of a YAML stream and whether each holds anything; counts its nodes, and
/// the nodes its aliases stand for when expanded (each alias: the size of the anchored node,
/// aliases inside it expanded too), and throws Limit at the node where a bound is crossed, before
/// anything is built.
struct DocumentScan : YAML::EventHandler {
    struct Doc {
        YAML::Mark start;
        bool content = false;
    };
    std::vector<Doc> docs;

    struct Limit {
        YAML::Mark mark;
        std::string message;
    };
    std::uint64_t own = 0;      // nodes written in the file
    std::uint64_t expanded = 0; // nodes of the tree with every alias expanded

    void OnDocumentStart(const YAML::Mark &mark) override { docs.push_back({mark, false}); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark &mark, YAML::anchor_t anchor) override {
        leaf(mark, anchor, false); // an empty document is a null: not content
    }
    void OnAlias(const YAML::Mark &mark, YAML::anchor_t anchor) override {
        seen();
        const auto it = sizes_.find(anchor);
        if (it == sizes_.end())
            throw Limit{mark, "an alias refers to the list or map that contains it (a cycle); "
                              "a config cannot be infinite"};
        add(mark, it->second, 0);
    }
    void OnScalar(const YAML::Mark &mark, const std::string &, YAML::anchor_t anchor,
                  const std::string &) override {
        leaf(mark, anchor);
    }
    void OnSequenceStart(const YAML::Mark &mark, const std::string &, YAML::anchor_t anchor,
                         YAML::EmitterStyle::value) override {
        open(mark, anchor);
    }
    void OnSequenceEnd() override { close(); }
    void OnMapStart(const YAML::Mark &mark, const std::string &, YAML::anchor_t anchor,
                    YAML::EmitterStyle::value) override {
        open(mark, anchor);
    }
    void OnMapEnd() override { close(); }

private:
    struct Frame {
        std::uint64_t nodes; // expanded nodes of the collection so far, itself included
        YAML::anchor_t anchor;
    };
    std::vector<Frame> stack_;
    std::unordered_map<YAML::anchor_t, std::uint64_t> sizes_; // finished anchors' expanded sizes

    void seen() {
        if (!docs.empty())
            docs.back().content = true;
    }
    static std::uint64_t sum(std::uint64_t a, std::uint64_t b) {
        return a > std::numeric_limits<std::uint64_t>::max() - b
                   ? std::numeric_limits<std::uint64_t>::max()
                   : a + b;
    }
    /// `n` more expanded nodes, `written` of them written in the file.
    void add(const YAML::Mark &mark, std::uint64_t n, std::uint64_t written) {
        own += written;
        expanded = sum(expanded, n);
        if (!stack_.empty())
            stack_.back().nodes = sum(stack_.back().nodes, n);
        if (own > kMaxNodes)
            throw Limit{mark, "more than " + std::to_string(kMaxNodes) +
                                  " YAML nodes (keys, values and list items) in one file: too "
                                  "large for a config; split it with include:"};
        if (expanded - own > kMaxAliasNodes)
            throw Limit{mark, "aliases expand to more than " + std::to_string(kMaxAliasNodes) +
                                  " nodes (this alias repeats " + std::to_string(n) +
                                  " nodes; nested aliases multiply): a file's aliases may add "
                                  "at most " +
                                  std::to_string(kMaxAliasNodes) + " nodes in all"};
    }
    void leaf(const YAML::Mark &mark, YAML::anchor_t anchor, bool content = true) {
        if (content)
            seen();
        add(mark, 1, 1);
        if (anchor)
            sizes_[anchor] = 1;
    }
    void open(const YAML::Mark &mark, YAML::anchor_t anchor) {
        seen();
        add(mark, 1, 1);
        stack_.push_back({1, anchor});
    }
    void close() {
        if (stack_.empty())
            return;
        const Frame f = stack_.back();
        stack_.pop_back();
        if (f.anchor)
            sizes_[f.anchor] = f.nodes;
        if (!stack_.empty())
            stack_.back().nodes = sum(stack_.back().nodes, f.nodes - 1); // itself already added
    }
};

YAML::Node parse_yaml(const std::string &text, const std::string &path) {
    if (text.size() > kMaxConfigBytes)
        file_error(path, "larger than " + std::to_string(kMaxConfigBytes >> 20) +
                             " MiB: not a config file");
    if (text.size() >= 2 &&
        ((text[0] == '\xFF' && text[1] == '\xFE') || (text[0] == '\xFE' && text[1] == '\xFF')))
        file_error(path, "the file is UTF-16 encoded; save it as UTF-8", 1, 1);
    if (const auto nul = text.find('\0'); nul != std::string::npos) {
        const auto [l, c] = line_col(text, nul);
        file_error(path,
                   "not a text file (a NUL byte at line " + std::to_string(l) + ", column " +
                       std::to_string(c) + "); expected a YAML config (is this a results file?)",
                   l, c);
    }
    if (const auto bad = invalid_utf8(text); bad != std::string::npos) {
        const auto [l, c] = line_col(text, bad);
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[bad]));
        file_error(path,
                   std::string("not valid UTF-8 (byte ") + hex +
                       "); save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
                   l, c);
    }
    // YAML forbids tabs in indentation; yaml-cpp's own message for them is obscure.
    std::size_t line_start = 0;
    int line_no = 1;
    while (line_start < text.size()) {
        std::size_t i = line_start;
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) {
            if (text[i] == '\t')
                file_error(path,
                           "tab character in indentation: YAML does not allow tabs for "
                           "indentation; replace it with spaces",
                           line_no, static_cast<int>(i - line_start + 1));
            ++i;
        }
        const auto eol = text.find('\n', line_start);
        if (eol == std::string::npos)
            break;
        line_start = eol + 1;
        ++line_no;
    }
    YAML::Node root;
    DocumentScan scan;
    try {
        // First the events alone (no tree): the documents, the nodes and what aliases expand
        // to, so that a file too large for the tree or an alias bomb is refused before yaml-cpp
        // builds anything. YAML::LoadAll loops forever on some inputs (a stray ',' at the top
        // level), so the documents after the first are looked for here, with a bound and a
        // progress check.
        std::istringstream in(text);
        YAML::Parser parser(in);
        for (int k = 0; k < 8 && parser.HandleNextDocument(scan); ++k) {
            const auto &d = scan.docs;
            if (d.size() >= 2 && d[d.size() - 1].start.pos == d[d.size() - 2].start.pos)
                break; // no progress: the parser is stuck on a token it cannot use
            if (d.size() >= 2 && d.back().content)
                break;
        }
        root = YAML::Load(text);
    } catch (const DocumentScan::Limit &e) {
        file_error(path, e.message, e.mark.line + 1, e.mark.column + 1);
    }
#ifdef CHOKEPOINT_YAML_DEPTHGUARD
    catch (const YAML::DeepRecursion &e) {
        file_error(path,
                   "YAML syntax error: nested too deeply (more than " + std::to_string(e.depth()) +
                       " levels of lists and maps)",
                   e.mark.line + 1, e.mark.column + 1);
    }
#endif
    catch (const YAML::Exception &e) {
        file_error(path, syntax_message(e.msg), e.mark.line + 1, e.mark.column + 1);
    }
    for (std::size_t k = 1; k < scan.docs.size(); ++k)
        if (scan.docs[k].content)
            file_error(path,
                       "a second YAML document (after '---'); a config is one document: remove "
                       "the '---' line or split the file",
                       scan.docs[k].start.line + 1, scan.docs[k].start.column + 1);
    if (!root.IsDefined() || root.IsNull()) {
        // Nothing but comments, blank lines, '---', '...' and directives is an empty file;
        // anything else is a token yaml-cpp gave up on without an error.
        std::size_t pos = 0;
        int line = 1;
        while (pos < text.size()) {
            const auto eol = std::min(text.find('\n', pos), text.size());
            std::string l = text.substr(pos, eol - pos);
            const auto first = l.find_first_not_of(" \t\r");
            if (first != std::string::npos && l[first] != '#' && l[first] != '%' &&
                l.compare(first, 3, "---") != 0 && l.compare(first, 3, "...") != 0)
                file_error(path,
                           "YAML syntax error: cannot read the file as YAML from here (" +
                               quote(l.substr(first, 20)) +
                               "); a config is a map of 'key: value' lines",
                           line, static_cast<int>(first) + 1);
            pos = eol + 1;
            ++line;
        }
    }
    return root;
}

std::string canonical(const std::string &path) {
    std::error_code ec;
    auto c = fs::weakly_canonical(path, ec);
    return ec ? fs::absolute(path, ec).lexically_normal().string() : c.string();
}

/// Reads an included file: from disk, or from the texts stored in a results file.
using FileReader = std::function<std::string(const std::string &)>;

void parse_with_includes(const std::string &path, const std::string &text,
                         std::vector<ParsedFile> &out, std::vector<std::string> &stack,
                         std::vector<ConfigFile> &files, const FileReader &reader) {
    const auto canon = canonical(path);
    const bool included = !stack.empty();
    YAML::Node root = parse_yaml(text, path);
    if (!root.IsDefined() || root.IsNull())
        file_error(path, included ? "empty file: an included config must be a map of sections "
                                    "(products, facilities, ...)"
                                  : "empty config: expected a map with at least 'products', "
                                    "'facilities' and 'demands'");
    if (!root.IsMap())
        file_error(path,
                   "expected a map of sections (products, facilities, demands, ...) at the top "
                   "level, found " +
                       show(root),
                   root.Mark().line + 1, root.Mark().column + 1);
    out.push_back({path, root});
    files.push_back({path, text});
    stack.push_back(canon);
    if (const auto inc = root["include"]) {
        if (!inc.IsSequence())
            file_error(path,
                       "expected a list of file paths (e.g. include: [part.yaml]), found " +
                           show(inc),
                       inc.Mark().line + 1, inc.Mark().column + 1, "include");
        for (std::size_t i = 0; i < inc.size(); ++i) {
            const auto key = "include[" + std::to_string(i) + "]";
            const int l = inc[i].Mark().line + 1, c = inc[i].Mark().column + 1;
            if (!inc[i].IsScalar() || inc[i].Scalar().empty())
                file_error(path, "expected a file path, found " + show(inc[i]), l, c, key);
            const auto sub = (fs::path(path).parent_path() / inc[i].Scalar()).string();
            const auto sub_canon = canonical(sub);
            if (std::find(stack.begin(), stack.end(), sub_canon) != stack.end()) {
                std::string chain;
                for (const auto &s : stack)
                    chain += fs::path(s).filename().string() + " -> ";
                file_error(path,
                           "include cycle: " + chain + fs::path(sub).filename().string() +
                               " (a file may not include itself, directly or not)",
                           l, c, key);
            }
            for (const auto &pf : out)
                if (canonical(pf.path) == sub_canon)
                    file_error(path, "'" + sub + "' is included twice; include each file once", l,
                               c, key);
            std::string subtext;
            try {
                subtext = reader(sub);
            } catch (const InputError &e) {
                const auto why = e.diagnostics().empty() ? std::string(e.what())
                                                         : e.diagnostics().front().message;
                file_error(path,
                           "cannot read included file '" + sub + "': " + why +
                               " (include paths are relative to the including file)",
                           l, c, key);
            }
            parse_with_includes(sub, subtext, out, stack, files, reader);
        }
    }
    stack.pop_back();
}

std::vector<Item> section(Loader &L, const std::vector<ParsedFile> &files, const char *key) {
    std::vector<Item> items;
    for (const auto &pf : files) {
        const auto n = pf.root[key];
        if (!n.IsDefined() || n.IsNull())
            continue;
        if (!n.IsSequence()) {
            L.error(pf.path, n, key,
                    std::string("expected a list of entries (each starting with '- '), found ") +
                        show(n));
            continue;
        }
        for (std::size_t i = 0; i < n.size(); ++i)
            items.push_back({pf.path, n[i], std::string(key) + "[" + std::to_string(i) + "]"});
    }
    return items;
}

/// Assigns `id` to the item, reporting a duplicate.
template <class Map>
std::optional<std::string> unique_id(Loader &L, const Item &it, Map &index, const char *what) {
    auto id = L.identifier(it.file, it.node["id"], it.path + ".id");
    if (!id)
        return std::nullopt;
    if (index.count(*id)) {
        L.error(it.file, it.node["id"], it.path + ".id",
                std::string("duplicate ") + what + " id '" + *id + "'");
        return std::nullopt;
    }
    return id;
}

/// Cross-checks of the run settings that name inputs and demands (after the model is built):
/// correlations, sensitivity inputs, the stopping rule; then the trial count they imply.
void check_design(Loader &L, Model &m, const ParsedFile &main) {
    const std::string &mf = main.path;
    const auto run = main.root["run"];
    // The input names, as sets and sorted, so that many correlations or patterns cost
    // O(n log n), not O(n^2); only when something names inputs (a model of 50,000 facilities
    // has 350,000 quantities).
    std::vector<std::string> names, sorted_names;
    std::unordered_set<std::string> name_set, all_names;
    const bool named =
        run && ((run["correlations"] && run["correlations"].IsSequence()) ||
                (run["sensitivity_inputs"] && run["sensitivity_inputs"].IsSequence()));
    if (named) {
        for (const auto &in : design_inputs(m))
            names.push_back(in.name);
        name_set.insert(names.begin(), names.end());
        for (const auto &in : design_quantities(m))
            all_names.insert(in);
        sorted_names = names;
        std::sort(sorted_names.begin(), sorted_names.end());
    }
    auto check_input = [&](const YAML::Node &n, const std::string &path, const std::string &name) {
        if (name_set.count(name))
            return true;
        if (all_names.count(name)) {
            L.error(mf, n, path,
                    "input " + quote(name) +
                        " is fixed in this model (a single value, no uncertainty to correlate "
                        "or rank)");
            return false;
        }
        const auto near = nearest(name, names);
        L.error(mf, n, path,
                "unknown input " + quote(name) +
                    "; inputs are named <kind>/<id>/<quantity>, e.g. " +
                    (names.empty() ? std::string("facility/a/capacity") : names.front()) +
                    (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                    "; `chokepoint validate` lists them");
        return false;
    };
    if (run && run["correlations"] && run["correlations"].IsSequence()) {
        const auto cs = run["correlations"];
        std::set<std::pair<std::string, std::string>> seen;
        for (std::size_t i = 0; i < cs.size(); ++i) {
            const auto b = cs[i]["between"];
            if (!b.IsSequence() || b.size() != 2 || !b[0].IsScalar() || !b[1].IsScalar())
                continue;
            const auto p = "run.correlations[" + std::to_string(i) + "].between";
            const bool ok = check_input(b[0], p + "[0]", b[0].Scalar()) &&
                            check_input(b[1], p + "[1]", b[1].Scalar());
            auto key = std::minmax(b[0].Scalar(), b[1].Scalar());
            if (!seen.emplace(key.first, key.second).second && ok)
                L.error(mf, b, p, "this pair is correlated twice; give each pair once");
        }
    }
    if (run && run["sensitivity_inputs"] && run["sensitivity_inputs"].IsSequence()) {
        const auto si = run["sensitivity_inputs"];
        for (std::size_t i = 0; i < si.size(); ++i) {
            if (!si[i].IsScalar())
                continue;
            const std::string pat = si[i].Scalar();
            const auto p = "run.sensitivity_inputs[" + std::to_string(i) + "]";
            if (!pat.empty() && pat.back() == '*') {
                const auto prefix = pat.substr(0, pat.size() - 1);
                const auto at = std::lower_bound(sorted_names.begin(), sorted_names.end(), prefix);
                if (at == sorted_names.end() || at->compare(0, prefix.size(), prefix) != 0)
                    L.error(mf, si[i], p, "no input starts with " + quote(prefix));
            } else {
                check_input(si[i], p, pat);
            }
        }
    }
    auto &st = m.run.stop;
    if (st.enabled) {
        if (std::none_of(m.demands.begin(), m.demands.end(),
                         [&](const Demand &d) { return d.id == st.demand; }))
            L.error(mf, run["stop_when"]["demand"], "run.stop_when.demand",
                    "unknown demand " + quote(st.demand));
        if (m.run.sampler != SamplerKind::MC)
            L.error(mf, run["stop_when"], "run.stop_when",
                    "a stopping rule needs run.sampler: mc (a Latin hypercube or Sobol' design "
                    "fixes its size in advance)");
        if (m.run.sensitivity == Sensitivity::Sobol)
            L.error(mf, run["stop_when"], "run.stop_when",
                    "a stopping rule cannot be combined with sensitivity: sobol");
    }
    if (m.run.sensitivity == Sensitivity::Sobol && run && run["replicates"] &&
        m.run.replicates != 1)
        L.error(mf, run["replicates"], "run.replicates",
                "sensitivity: sobol uses one replicate (its intervals come from the bootstrap)");
    if (!L.diags.empty())
        throw InputError(std::move(L.diags));
    try {
        set_trials(m, m.run.requested_trials);
    } catch (const InputError &e) {
        const YAML::Node where = run ? run : main.root;
        L.error(mf, where, "run", e.what());
        throw InputError(std::move(L.diags));
    }
    if (!m.run.correlations.empty()) {
        try {
            make_design(m); // the correlation matrix must be positive definite
        } catch (const InputError &e) {
            std::string msg = e.what();
            const std::string prefix = "run.correlations: ";
            if (msg.compare(0, prefix.size(), prefix) == 0)
                msg.erase(0, prefix.size());
            L.error(mf, run["correlations"], "run.correlations", msg);
            throw InputError(std::move(L.diags));
        }
    }
}

/// The items of a list section: the overlay's when the scenario changes it, else the files'.
std::vector<Item> items_of(Loader &L, const std::vector<ParsedFile> &files, const Overlay *ov,
                           const char *key) {
    if (ov)
        if (const auto *items = ov->find(key))
            return *items;
    return section(L, files, key);
}

/// `allocation:` (the main config's; a scenario's edited copy when `ov` has one): the rule, its
/// blocs, its reference shares.
void parse_allocation(Loader &L, const std::vector<ParsedFile> &files, const Overlay *ov) {
    Model &m = L.m;
    // An included file's allocation is ignored, like its run: the rule is the study's choice.
    const auto &mf = files.front().path;
    const auto a = ov && ov->has_allocation ? ov->allocation : files.front().root["allocation"];
    if (!a)
        return;
    if (!L.check_map(mf, a, "allocation", {"rule", "blocs", "reference", "trade_shares", "source"}))
        return;
    auto &al = m.allocation;
    if (const auto n = a["rule"]) {
        if (auto v = L.string(mf, n, "allocation.rule")) {
            if (*v == "coordinated")
                al.rule = AllocationRule::Coordinated;
            else if (*v == "home_first")
                al.rule = AllocationRule::HomeFirst;
            else if (*v == "proportional")
                al.rule = AllocationRule::Proportional;
            else {
                const auto near = nearest(
                    *v, std::vector<std::string>{"coordinated", "home_first", "proportional"});
                L.error(mf, n, "allocation.rule",
                        quote(*v) +
                            " is not an allocation rule; expected coordinated, "
                            "home_first or proportional" +
                            (near.empty() ? "" : " (did you mean '" + near + "'?)"));
            }
        }
    }
    const std::string rule_name = al.rule == AllocationRule::Coordinated ? "coordinated"
                                  : al.rule == AllocationRule::HomeFirst ? "home_first"
                                                                         : "proportional";
    // In a scenario that switches the rule, keys of the baseline's rule are left as they are
    // (a set: cannot delete them) and ignored; in a config they are refused.
    const bool scenario = ov && ov->has_allocation;
    if (const auto n = a["blocs"]; n && !(scenario && al.rule != AllocationRule::HomeFirst)) {
        if (al.rule != AllocationRule::HomeFirst)
            L.error(mf, n, "allocation.blocs",
                    "blocs belong to rule home_first (this rule is " + rule_name + ")");
        else if (!n.IsSequence())
            L.error(mf, n, "allocation.blocs",
                    "expected a list of country group ids (country_groups), found " + show(n));
        else
            for (std::size_t i = 0; i < n.size(); ++i) {
                const std::string p = "allocation.blocs[" + std::to_string(i) + "]";
                auto g = L.string(mf, n[i], p);
                if (!g)
                    continue;
                if (!L.groups.count(*g)) {
                    const auto near = nearest(*g, L.groups);
                    L.error(mf, n[i], p,
                            quote(*g) + " is not a country group (define it in country_groups)" +
                                (near.empty() ? "" : " (did you mean '" + near + "'?)"));
                    continue;
                }
                al.blocs.push_back(*g);
            }
    }
    if (const auto n = a["reference"];
        n && !(scenario && al.rule != AllocationRule::Proportional)) {
        if (al.rule != AllocationRule::Proportional)
            L.error(mf, n, "allocation.reference",
                    "reference belongs to rule proportional (this rule is " + rule_name + ")");
        else if (auto v = L.string(mf, n, "allocation.reference")) {
            if (*v == "pooled")
                al.reference = ReferenceShares::Pooled;
            else if (*v == "trade_shares")
                al.reference = ReferenceShares::TradeShares;
            else
                L.error(mf, n, "allocation.reference",
                        quote(*v) + " is not a reference; expected pooled (each consumer's share "
                                    "of the undisrupted wants) or trade_shares (a table)");
        }
    }
    if (a["source"])
        L.string(mf, a["source"], "allocation.source");
    const auto t = a["trade_shares"];
    if (al.reference == ReferenceShares::TradeShares && !t) {
        L.error(mf, a, "allocation.trade_shares",
                "reference trade_shares needs the table trade_shares: {product: {exporter: "
                "{importer: share}}}");
        return;
    }
    if (!t || (scenario && al.reference != ReferenceShares::TradeShares))
        return;
    if (al.reference != ReferenceShares::TradeShares) {
        L.error(mf, t, "allocation.trade_shares",
                "a trade-share table needs rule proportional with reference trade_shares");
        return;
    }
    if (!t.IsMap()) {
        L.error(mf, t, "allocation.trade_shares",
                "expected {product: {exporter: {importer: share}}}, found " + show(t));
        return;
    }
    const auto C = m.countries.size();
    al.trade_shares.assign(m.products.size(), {});
    auto model_country = [&](const YAML::Node &n, const std::string &p) -> int {
        auto s = L.string(mf, n, p);
        if (!s)
            return -1;
        const auto it = L.country_index.find(*s);
        if (it == L.country_index.end()) {
            L.error(mf, n, p,
                    quote(*s) + " is not a country of the model (no facility or demand there)");
            return -1;
        }
        return it->second;
    };
    for (const auto &pk : t) {
        const std::string pp = "allocation.trade_shares." + path_key(pk.first.Scalar());
        auto prod = L.product_ref(mf, pk.first, pp);
        if (!prod)
            continue;
        auto &table = al.trade_shares[static_cast<std::size_t>(*prod)];
        table.assign(C * C, std::numeric_limits<double>::quiet_NaN());
        if (!pk.second.IsMap()) {
            L.error(mf, pk.second, pp,
                    "expected {exporter: {importer: share}}, found " + show(pk.second));
            continue;
        }
        for (const auto &ek : pk.second) {
            const std::string ep = pp + "." + path_key(ek.first.Scalar());
            const int e = model_country(ek.first, ep);
            if (e < 0)
                continue;
            if (!ek.second.IsMap()) {
                L.error(mf, ek.second, ep,
                        "expected {importer: share of the exporter's output}, found " +
                            show(ek.second));
                continue;
            }
            double sum = 0;
            for (const auto &ik : ek.second) {
                const std::string ip = ep + "." + path_key(ik.first.Scalar());
                const int i = model_country(ik.first, ip);
                auto v = L.number(mf, ik.second, ip);
                if (i < 0 || !v)
                    continue;
                if (!(*v >= 0 && *v <= 1)) {
                    L.error(mf, ik.second, ip, "a share must be in [0, 1], got " + L.fmt(*v));
                    continue;
                }
                table[static_cast<std::size_t>(e) * C + static_cast<std::size_t>(i)] = *v;
                sum += *v;
            }
            if (sum > 1 + 1e-9)
                L.error(mf, ek.second, ep,
                        "the shares of one exporter's output add up to " + L.fmt(sum) +
                            ", more than 1");
        }
    }
}

Model build(const std::vector<ParsedFile> &files, std::vector<ConfigFile> texts,
            const Overlay *ov = nullptr) {
    Loader L;
    Model &m = L.m;
    m.files = std::move(texts);
    const auto &main = files.front();
    const std::string &mf = main.path;

    static const std::vector<std::string> top_keys{
        "name",     "description", "include", "run",   "country_groups", "regimes",   "factors",
        "products", "facilities",  "demands", "lanes", "events",         "scenarios", "allocation"};
    for (const auto &pf : files)
        L.check_map(pf.path, pf.root, "", top_keys);

    // name, description
    m.name = fs::path(mf).stem().string();
    if (main.root["name"]) {
        if (auto s = L.identifier(mf, main.root["name"], "name"))
            m.name = *s;
    }
    if (main.root["description"]) {
        if (auto s = L.string(mf, main.root["description"], "description"))
            m.description = *s;
    }

    // run
    if (const auto run = main.root["run"]) {
        if (L.check_map(mf, run, "run",
                        {"trials", "seed", "horizon_months", "start", "block_size", "quantiles",
                         "thresholds", "store_monthly", "sampler", "replicates", "correlations",
                         "stop_when", "sensitivity", "sensitivity_inputs", "bootstrap",
                         "store_inputs"})) {
            if (run["trials"])
                if (auto v = L.unsigned_int(mf, run["trials"], "run.trials", 1, 0xFFFFFFFFull))
                    m.run.trials = m.run.requested_trials = *v;
            if (run["seed"])
                if (auto v = L.unsigned_int(mf, run["seed"], "run.seed", 0, ~0ull))
                    m.run.seed = *v;
            if (run["horizon_months"])
                if (auto v =
                        L.unsigned_int(mf, run["horizon_months"], "run.horizon_months", 1, 1200))
                    m.run.horizon_months = static_cast<int>(*v);
            if (run["block_size"])
                if (auto v = L.unsigned_int(mf, run["block_size"], "run.block_size", 1, 1000000))
                    m.run.block_size = *v;
            if (run["start"]) {
                // YYYY-MM, month 01 .. 12
                const auto yyyy_mm = [](const std::string &v) {
                    const auto digit = [&](std::size_t i) { return v[i] >= '0' && v[i] <= '9'; };
                    return v.size() == 7 && digit(0) && digit(1) && digit(2) && digit(3) &&
                           v[4] == '-' && digit(5) && digit(6) &&
                           ((v[5] == '0' && v[6] != '0') || (v[5] == '1' && v[6] <= '2'));
                };
                if (auto s = L.string(mf, run["start"], "run.start")) {
                    if (!yyyy_mm(*s))
                        L.error(mf, run["start"], "run.start",
                                quote(*s) + " is not a month written YYYY-MM (e.g. \"2027-01\")");
                    else
                        m.run.start = *s;
                }
            }
            if (run["store_monthly"])
                if (auto b = L.boolean(mf, run["store_monthly"], "run.store_monthly"))
                    m.run.store_monthly = *b;
            if (const auto q = run["quantiles"]) {
                if (!q.IsSequence() || q.size() == 0) {
                    L.error(mf, q, "run.quantiles",
                            "expected a non-empty list of numbers in (0, 1), found " + show(q));
                } else {
                    m.run.quantiles.clear();
                    for (std::size_t i = 0; i < q.size(); ++i) {
                        const auto p = "run.quantiles[" + std::to_string(i) + "]";
                        if (auto v = L.number(mf, q[i], p)) {
                            if (*v <= 0 || *v >= 1)
                                L.error(mf, q[i], p,
                                        "quantile level " + Loader::fmt(*v) +
                                            " must lie in (0, 1)");
                            else
                                m.run.quantiles.push_back(*v);
                        }
                    }
                    std::sort(m.run.quantiles.begin(), m.run.quantiles.end());
                }
            }
            if (const auto n = run["sampler"]) {
                if (auto v = L.string(mf, n, "run.sampler")) {
                    if (*v == "mc")
                        m.run.sampler = SamplerKind::MC;
                    else if (*v == "lhs")
                        m.run.sampler = SamplerKind::LHS;
                    else if (*v == "sobol")
                        m.run.sampler = SamplerKind::Sobol;
                    else
                        L.error(mf, n, "run.sampler",
                                quote(*v) + " is not a sampler; expected mc (plain Monte Carlo), "
                                            "lhs (Latin hypercube) or sobol (randomised Sobol')");
                }
                // Designs other than plain Monte Carlo need independent replicates for their
                // error estimate.
                if (m.run.sampler != SamplerKind::MC)
                    m.run.replicates = 10;
            }
            if (const auto n = run["replicates"])
                if (auto v = L.unsigned_int(mf, n, "run.replicates", 1, 100000))
                    m.run.replicates = static_cast<int>(*v);
            if (const auto n = run["store_inputs"])
                if (auto b = L.boolean(mf, n, "run.store_inputs"))
                    m.run.store_inputs = *b;
            if (const auto n = run["bootstrap"])
                if (auto v = L.unsigned_int(mf, n, "run.bootstrap", 0, 100000))
                    m.run.bootstrap = static_cast<int>(*v);
            if (const auto n = run["sensitivity"]) {
                if (auto v = L.string(mf, n, "run.sensitivity")) {
                    if (*v == "none")
                        m.run.sensitivity = Sensitivity::None;
                    else if (*v == "rank")
                        m.run.sensitivity = Sensitivity::Rank;
                    else if (*v == "sobol")
                        m.run.sensitivity = Sensitivity::Sobol;
                    else
                        L.error(mf, n, "run.sensitivity",
                                quote(*v) + " is not a sensitivity analysis; expected none, rank "
                                            "(Spearman and rank-regression importance, with "
                                            "bootstrap intervals) or sobol (first-order and total "
                                            "Sobol' indices by a pick-freeze design)");
                }
            }
            if (const auto n = run["sensitivity_inputs"]) {
                if (!n.IsSequence() || n.size() == 0)
                    L.error(mf, n, "run.sensitivity_inputs",
                            "expected a non-empty list of input names (e.g. "
                            "facility/cn_ga_1/capacity) or prefixes ending in '*', found " +
                                show(n));
                else
                    for (std::size_t i = 0; i < n.size(); ++i)
                        if (auto v = L.string(mf, n[i],
                                              "run.sensitivity_inputs[" + std::to_string(i) + "]"))
                            m.run.sensitivity_inputs.push_back(*v);
            }
            if (const auto n = run["correlations"]) {
                if (!n.IsSequence())
                    L.error(mf, n, "run.correlations",
                            "expected a list of {between: [input, input], rank: r}, found " +
                                show(n));
                else if (n.size() > kMaxCorrelations)
                    // The design factors a matrix of the correlated inputs (cubic in their
                    // number) and multiplies by it in every trial.
                    L.error(mf, n, "run.correlations",
                            std::to_string(n.size()) + " correlations: at most " +
                                std::to_string(kMaxCorrelations) + " are allowed");
                else
                    for (std::size_t i = 0; i < n.size(); ++i) {
                        const auto p = "run.correlations[" + std::to_string(i) + "]";
                        if (!L.check_map(mf, n[i], p, {"between", "rank"}))
                            continue;
                        CorrelationSpec c;
                        const auto b = n[i]["between"];
                        bool ok = true;
                        if (!b.IsSequence() || b.size() != 2) {
                            L.error(mf, b, p + ".between",
                                    "expected a list of two input names, e.g. "
                                    "[facility/a/capacity, facility/b/capacity], found " +
                                        show(b));
                            ok = false;
                        } else {
                            auto x = L.string(mf, b[0], p + ".between[0]");
                            auto y = L.string(mf, b[1], p + ".between[1]");
                            ok = x && y;
                            if (ok) {
                                c.a = *x;
                                c.b = *y;
                                if (c.a == c.b) {
                                    L.error(mf, b, p + ".between",
                                            "an input cannot be correlated with itself");
                                    ok = false;
                                }
                            }
                        }
                        if (auto r = L.number(mf, n[i]["rank"], p + ".rank")) {
                            if (!(*r > -1 && *r < 1)) {
                                L.error(mf, n[i]["rank"], p + ".rank",
                                        "rank correlation " + Loader::fmt(*r) +
                                            " must lie strictly between -1 and 1");
                                ok = false;
                            }
                            c.rank = *r;
                        } else {
                            ok = false;
                        }
                        if (ok)
                            m.run.correlations.push_back(c);
                    }
            }
            if (const auto n = run["stop_when"]) {
                if (L.check_map(mf, n, "run.stop_when",
                                {"statistic", "demand", "se_below", "relative_se_below",
                                 "min_trials", "max_trials"})) {
                    auto &st = m.run.stop;
                    st.enabled = true;
                    if (auto v = L.string(mf, n["statistic"], "run.stop_when.statistic")) {
                        if (*v == "eud")
                            st.statistic = Statistic::EUD;
                        else if (*v == "p_short")
                            st.statistic = Statistic::PShort;
                        else if (*v == "lose")
                            st.statistic = Statistic::LOSE;
                        else
                            L.error(mf, n["statistic"], "run.stop_when.statistic",
                                    quote(*v) + " is not a statistic with a standard error; "
                                                "expected eud, p_short or lose");
                    }
                    if (auto v = L.identifier(mf, n["demand"], "run.stop_when.demand"))
                        st.demand = *v;
                    const bool abs_given = static_cast<bool>(n["se_below"]),
                               rel_given = static_cast<bool>(n["relative_se_below"]);
                    if (abs_given == rel_given)
                        L.error(mf, n, "run.stop_when",
                                "give exactly one of se_below (an absolute standard error, in "
                                "the statistic's unit) and relative_se_below (a share of the "
                                "estimate, e.g. 0.05)");
                    else if (abs_given) {
                        if (auto v = L.number(mf, n["se_below"], "run.stop_when.se_below")) {
                            if (!(*v > 0))
                                L.error(mf, n["se_below"], "run.stop_when.se_below",
                                        "the target standard error must be positive");
                            st.se_below = *v;
                        }
                    } else if (auto v = L.number(mf, n["relative_se_below"],
                                                 "run.stop_when.relative_se_below")) {
                        if (!(*v > 0 && *v < 1))
                            L.error(mf, n["relative_se_below"], "run.stop_when.relative_se_below",
                                    "the relative standard error must lie in (0, 1)");
                        st.se_below = *v;
                        st.relative = true;
                    }
                    if (auto v = L.unsigned_int(mf, n["min_trials"], "run.stop_when.min_trials", 1,
                                                0xFFFFFFFFull))
                        st.min_trials = *v;
                    if (auto v = L.unsigned_int(mf, n["max_trials"], "run.stop_when.max_trials", 1,
                                                0xFFFFFFFFull))
                        st.max_trials = *v;
                    if (st.max_trials > 0 && st.min_trials > st.max_trials)
                        L.error(mf, n, "run.stop_when",
                                "min_trials (" + std::to_string(st.min_trials) +
                                    ") exceeds max_trials (" + std::to_string(st.max_trials) + ")");
                    st.enabled = st.max_trials > 0;
                    // The run plans max_trials (--trials overrides it).
                    if (st.enabled)
                        m.run.trials = m.run.requested_trials = st.max_trials;
                }
            }
            if (const auto q = run["thresholds"]) {
                if (!q.IsSequence() || q.size() == 0) {
                    L.error(mf, q, "run.thresholds",
                            "expected a non-empty list of shares of demand in (0, 1], found " +
                                show(q));
                } else {
                    m.run.thresholds.clear();
                    for (std::size_t i = 0; i < q.size(); ++i) {
                        const auto p = "run.thresholds[" + std::to_string(i) + "]";
                        if (auto v = L.number(mf, q[i], p)) {
                            if (*v <= 0 || *v > 1)
                                L.error(
                                    mf, q[i], p,
                                    "threshold " + Loader::fmt(*v) +
                                        " must lie in (0, 1] (a share of the demand's total want)");
                            else
                                m.run.thresholds.push_back(*v);
                        }
                    }
                    std::sort(m.run.thresholds.begin(), m.run.thresholds.end());
                }
            }
        }
    }
    const int H = m.run.horizon_months;

    // regimes: the main file's if it has them, else the included files' (which must agree); a
    // scenario that changes them gives its list.
    if (const auto *ov_regimes = ov ? ov->find("regimes") : nullptr) {
        double total = 0;
        for (const auto &it : *ov_regimes) {
            if (!L.check_map(it.file, it.node, it.path, {"id", "weight"}))
                continue;
            auto id = L.identifier(it.file, it.node["id"], it.path + ".id");
            auto w = L.number(it.file, it.node["weight"], it.path + ".weight");
            if (!id || !w)
                continue;
            if (*w < 0 || *id == "default" || L.regime_index.count(*id)) {
                L.error(it.file, *w < 0 ? it.node["weight"] : it.node["id"],
                        it.path + (*w < 0 ? ".weight" : ".id"),
                        *w < 0             ? "weight " + Loader::fmt(*w) + " must not be negative"
                        : *id == "default" ? "'default' is a reserved word (the by_regime "
                                             "fallback) and cannot name a regime; choose another id"
                                           : "duplicate regime id '" + *id + "'");
                continue;
            }
            L.regime_index[*id] = static_cast<int>(m.regimes.size());
            m.regimes.push_back({*id, *w});
            total += *w;
        }
        if (!ov_regimes->empty() && !(total > 0))
            L.error(mf, main.root, "regimes",
                    "regime weights must sum to a positive number (they sum to " +
                        Loader::fmt(total) + ")");
        if (m.regimes.empty())
            m.regimes.push_back({"baseline", 1.0});
    } else {
        const ParsedFile *src = nullptr;
        if (main.root["regimes"])
            src = &main;
        for (const auto &pf : files) {
            if (!pf.root["regimes"] || src == &main)
                continue;
            if (!src) {
                src = &pf;
                continue;
            }
            if (YAML::Dump(pf.root["regimes"]) != YAML::Dump(src->root["regimes"]))
                L.error(pf.path, pf.root["regimes"], "regimes",
                        "included files define different regimes ('" + src->path +
                            "' differs); define the regimes in the main config to settle them");
        }
        if (src) {
            const auto rs = src->root["regimes"];
            if (!rs.IsSequence() || rs.size() == 0) {
                L.error(src->path, rs, "regimes",
                        "expected a non-empty list of {id, weight} entries, found " + show(rs));
            } else {
                double total = 0;
                for (std::size_t i = 0; i < rs.size(); ++i) {
                    const auto p = "regimes[" + std::to_string(i) + "]";
                    if (!L.check_map(src->path, rs[i], p, {"id", "weight"}))
                        continue;
                    Regime r;
                    auto id = L.identifier(src->path, rs[i]["id"], p + ".id");
                    auto w = L.number(src->path, rs[i]["weight"], p + ".weight");
                    if (!id || !w)
                        continue;
                    if (*w < 0) {
                        L.error(src->path, rs[i]["weight"], p + ".weight",
                                "weight " + Loader::fmt(*w) + " must not be negative");
                        continue;
                    }
                    if (*id == "default") {
                        // by_regime reads the key `default` as the distribution of the regimes
                        // not listed: a regime of that name would be ambiguous there.
                        L.error(src->path, rs[i]["id"], p + ".id",
                                "'default' is a reserved word (the by_regime fallback) and "
                                "cannot name a regime; choose another id");
                        continue;
                    }
                    if (L.regime_index.count(*id)) {
                        L.error(src->path, rs[i]["id"], p + ".id",
                                "duplicate regime id '" + *id + "'");
                        continue;
                    }
                    L.regime_index[*id] = static_cast<int>(m.regimes.size());
                    m.regimes.push_back({*id, *w});
                    total += *w;
                }
                if (!(total > 0))
                    L.error(src->path, rs, "regimes",
                            "regime weights must sum to a positive number (they sum to " +
                                Loader::fmt(total) + ")");
            }
        }
        if (m.regimes.empty())
            m.regimes.push_back({"baseline", 1.0});
    }

    // country groups
    for (const auto &pf : files) {
        const auto cg = pf.root["country_groups"];
        if (!cg.IsDefined() || cg.IsNull())
            continue;
        if (!cg.IsMap()) {
            L.error(pf.path, cg, "country_groups",
                    "expected a map: group id -> list of countries, found " + show(cg));
            continue;
        }
        for (const auto &kv : cg) {
            const auto p = "country_groups." + path_key(kv.first.Scalar());
            auto id = L.identifier(pf.path, kv.first, p);
            if (!id)
                continue;
            if (*id == "all" || *id == "all_except") {
                // Country sets read `all` and `all_except` as keywords: such a group would be
                // silently shadowed by the keyword wherever it is named.
                L.error(pf.path, kv.first, p,
                        "'" + *id +
                            "' is a reserved word (a country set keyword) and cannot name a "
                            "group; choose another id");
                continue;
            }
            if (L.groups.count(*id)) {
                L.error(pf.path, kv.first, p, "duplicate country group '" + *id + "'");
                continue;
            }
            if (L.valid_country_code(*id)) {
                L.error(pf.path, kv.first, p,
                        "group id '" + *id + "' looks like a country code; use a lower-case id");
                continue;
            }
            auto cs = L.country_set(pf.path, kv.second, p);
            if (!cs)
                continue;
            if (cs->all || cs->except) {
                L.error(pf.path, kv.second, p,
                        "a group is a plain list of countries ('all' and all_except are not "
                        "allowed in a group)");
                continue;
            }
            L.groups[*id] = {cs->codes.begin(), cs->codes.end()};
        }
    }

    // factors
    for (const auto &it : items_of(L, files, ov, "factors")) {
        if (!L.check_map(it.file, it.node, it.path, {"id", "dist"}))
            continue;
        auto id = unique_id(L, it, L.factor_index, "factor");
        if (!id)
            continue;
        auto d = L.dist(it.file, it.node["dist"], it.path + ".dist", kAny);
        if (!d)
            continue;
        L.factor_index[*id] = static_cast<int>(m.factors.size());
        m.factors.push_back({*id, *d});
        L.factor_dists.push_back(*d);
    }

    // products: ids first so recipes may refer forward
    const auto product_items = items_of(L, files, ov, "products");
    std::vector<const Item *> product_item_of;
    for (const auto &it : product_items) {
        if (!L.check_map(it.file, it.node, it.path, {"id", "name", "unit", "recipe"}))
            continue;
        auto id = unique_id(L, it, L.product_index, "product");
        if (!id)
            continue;
        Product p;
        p.id = *id;
        p.name = *id;
        p.unit = "t";
        if (it.node["name"])
            if (auto s = L.text(it.file, it.node["name"], it.path + ".name"))
                p.name = *s;
        if (it.node["unit"])
            if (auto s = L.text(it.file, it.node["unit"], it.path + ".unit"))
                p.unit = *s;
        L.product_index[*id] = static_cast<int>(m.products.size());
        m.products.push_back(p);
        product_item_of.push_back(&it);
    }
    for (std::size_t pi = 0; pi < m.products.size(); ++pi) {
        const Item &it = *product_item_of[pi];
        const auto r = it.node["recipe"];
        if (!r.IsDefined() || r.IsNull())
            continue;
        const auto rp = it.path + ".recipe";
        if (!r.IsMap() || r.size() == 0) {
            L.error(it.file, r, rp,
                    "expected a map of input product -> tonnes per tonne of output, found " +
                        show(r));
            continue;
        }
        std::set<int> seen;
        for (const auto &kv : r) {
            const auto kp = rp + "." + path_key(kv.first.Scalar());
            auto in = L.product_ref(it.file, kv.first, kp);
            auto coef = L.number(it.file, kv.second, kp);
            if (!in || !coef)
                continue;
            if (*coef <= 0) {
                L.error(it.file, kv.second, kp,
                        "recipe coefficient " + Loader::fmt(*coef) + " must be > 0");
                continue;
            }
            if (static_cast<std::size_t>(*in) == pi) {
                L.error(it.file, kv.first, kp, "a product cannot be an input of its own recipe");
                continue;
            }
            if (!seen.insert(*in).second) {
                L.error(it.file, kv.first, kp,
                        "input " + quote(kv.first.Scalar()) + " is listed twice in this recipe");
                continue;
            }
            m.products[pi].recipe.push_back({*in, *coef});
        }
    }
    if (product_items.empty())
        L.error(mf, main.root, "products", "no products: a config needs at least one product");

    // recipe cycles
    {
        std::vector<int> state(m.products.size(), 0);
        std::function<bool(int, std::vector<int> &)> dfs = [&](int p,
                                                               std::vector<int> &path) -> bool {
            state[static_cast<std::size_t>(p)] = 1;
            path.push_back(p);
            for (const auto &[q, _] : m.products[static_cast<std::size_t>(p)].recipe) {
                if (state[static_cast<std::size_t>(q)] == 1) {
                    std::string cyc;
                    for (int x : path)
                        cyc += m.products[static_cast<std::size_t>(x)].id + " -> ";
                    cyc += m.products[static_cast<std::size_t>(q)].id;
                    const Item &it = *product_item_of[static_cast<std::size_t>(p)];
                    L.error(it.file, it.node["recipe"], it.path + ".recipe",
                            "recipe cycle: " + cyc +
                                " (a product cannot be made, directly or through other products, "
                                "from itself)");
                    return true;
                }
                if (state[static_cast<std::size_t>(q)] == 0 && dfs(q, path))
                    return true;
            }
            path.pop_back();
            state[static_cast<std::size_t>(p)] = 2;
            return false;
        };
        for (std::size_t p = 0; p < m.products.size(); ++p) {
            std::vector<int> path;
            if (state[p] == 0 && dfs(static_cast<int>(p), path))
                break;
        }
    }

    // facilities
    std::map<std::string, int> facility_index;
    std::vector<const Item *> facility_item_of;
    const auto facility_items = items_of(L, files, ov, "facilities");
    m.facilities.reserve(facility_items.size());
    for (const auto &it : facility_items) {
        if (ov && ov->reuse && it.base >= 0) {
            // Unchanged by the scenario, with the same products, factors and regimes: the
            // baseline's facility is this one (only its country index is this model's).
            Facility fac = ov->base->facilities[static_cast<std::size_t>(it.base)];
            if (facility_index.count(fac.id)) {
                L.error(it.file, it.node["id"], it.path + ".id",
                        "duplicate facility id '" + fac.id + "'");
                continue;
            }
            fac.country = L.country(ov->base->countries[static_cast<std::size_t>(fac.country)]);
            facility_index[fac.id] = static_cast<int>(m.facilities.size());
            m.facilities.push_back(std::move(fac));
            facility_item_of.push_back(&it);
            continue;
        }
        if (!L.check_map(it.file, it.node, it.path,
                         {"id", "product", "country", "capacity", "availability", "start_month",
                          "ramp_months", "growth", "outages"}))
            continue;
        auto id = unique_id(L, it, facility_index, "facility");
        auto prod = L.product_ref(it.file, it.node["product"], it.path + ".product");
        auto ctry = L.string(it.file, it.node["country"], it.path + ".country");
        if (ctry && !L.valid_country_code(*ctry)) {
            L.error(it.file, it.node["country"], it.path + ".country",
                    quote(*ctry) + " is not a country code (upper-case, e.g. CN, US)");
            ctry.reset();
        }
        auto cap = L.dist(it.file, it.node["capacity"], it.path + ".capacity", kNonNeg);
        Facility fac;
        bool ok = id && prod && ctry && cap;
        if (it.node["availability"]) {
            auto d = L.dist(it.file, it.node["availability"], it.path + ".availability", kUnit);
            ok = ok && d;
            if (d)
                fac.availability = *d;
        }
        if (it.node["start_month"]) {
            auto d = L.dist(it.file, it.node["start_month"], it.path + ".start_month", kNonNeg);
            ok = ok && d;
            if (d)
                fac.start_month = *d;
        }
        if (it.node["ramp_months"]) {
            auto d = L.dist(it.file, it.node["ramp_months"], it.path + ".ramp_months", kNonNeg);
            ok = ok && d;
            if (d)
                fac.ramp_months = *d;
        }
        if (it.node["growth"]) {
            auto d = L.dist(it.file, it.node["growth"], it.path + ".growth", kGrowth);
            ok = ok && d;
            if (d)
                fac.growth = *d;
        }
        if (const auto o = it.node["outages"]) {
            const auto op = it.path + ".outages";
            if (L.check_map(it.file, o, op,
                            {"rate_per_year", "duration_months", "fraction_lost"})) {
                auto rate = L.dist(it.file, o["rate_per_year"], op + ".rate_per_year", kNonNeg);
                auto dur = L.dist(it.file, o["duration_months"], op + ".duration_months", kNonNeg);
                std::optional<Dist> frac = Dist::fixed(1);
                if (o["fraction_lost"])
                    frac = L.dist(it.file, o["fraction_lost"], op + ".fraction_lost", kUnit);
                ok = ok && rate && dur && frac;
                if (rate && dur && frac) {
                    fac.has_outages = true;
                    fac.outages = {*rate, *dur, *frac};
                }
            } else {
                ok = false;
            }
        }
        if (!ok)
            continue;
        fac.id = *id;
        fac.product = *prod;
        fac.country = L.country(*ctry);
        fac.capacity = *cap;
        facility_index[*id] = static_cast<int>(m.facilities.size());
        m.facilities.push_back(std::move(fac));
        facility_item_of.push_back(&it);
    }
    if (facility_items.empty())
        L.error(mf, main.root, "facilities", "no facilities: a config needs at least one facility");

    // demands
    std::map<std::string, int> demand_index;
    const auto demand_items = items_of(L, files, ov, "demands");
    m.demands.reserve(demand_items.size());
    std::vector<const Item *> demand_item_of;
    for (const auto &it : demand_items) {
        if (ov && ov->reuse && it.base >= 0) { // as for facilities
            Demand dm = ov->base->demands[static_cast<std::size_t>(it.base)];
            if (demand_index.count(dm.id)) {
                L.error(it.file, it.node["id"], it.path + ".id",
                        "duplicate demand id '" + dm.id + "'");
                continue;
            }
            dm.country = L.country(ov->base->countries[static_cast<std::size_t>(dm.country)]);
            demand_index[dm.id] = static_cast<int>(m.demands.size());
            m.demands.push_back(std::move(dm));
            demand_item_of.push_back(&it);
            continue;
        }
        if (!L.check_map(it.file, it.node, it.path,
                         {"id", "product", "country", "quantity", "growth", "tier", "tier_abroad",
                          "stockpile"}))
            continue;
        auto id = unique_id(L, it, demand_index, "demand");
        auto prod = L.product_ref(it.file, it.node["product"], it.path + ".product");
        auto ctry = L.string(it.file, it.node["country"], it.path + ".country");
        if (ctry && !L.valid_country_code(*ctry)) {
            L.error(it.file, it.node["country"], it.path + ".country",
                    quote(*ctry) + " is not a country code (upper-case, e.g. CN, US)");
            ctry.reset();
        }
        auto q = L.dist(it.file, it.node["quantity"], it.path + ".quantity", kNonNeg);
        Demand dm;
        bool ok = id && prod && ctry && q;
        if (it.node["growth"]) {
            auto g = L.dist(it.file, it.node["growth"], it.path + ".growth", kGrowth);
            ok = ok && g;
            if (g)
                dm.growth = *g;
        }
        if (it.node["tier"]) {
            auto t = L.unsigned_int(it.file, it.node["tier"], it.path + ".tier", 1, 100);
            ok = ok && t;
            if (t)
                dm.tier = static_cast<int>(*t);
        }
        dm.tier_abroad = dm.tier;
        if (it.node["tier_abroad"]) {
            auto t =
                L.unsigned_int(it.file, it.node["tier_abroad"], it.path + ".tier_abroad", 1, 100);
            ok = ok && t;
            if (t)
                dm.tier_abroad = static_cast<int>(*t);
        }
        if (const auto s = it.node["stockpile"]) {
            const auto sp = it.path + ".stockpile";
            if (L.check_map(it.file, s, sp, {"initial", "max_level", "max_draw", "refill"})) {
                auto init = L.dist(it.file, s["initial"], sp + ".initial", kNonNeg);
                ok = ok && init;
                if (init)
                    dm.stockpile.initial = *init;
                auto opt = [&](const char *key, Dist &out, bool &has) {
                    if (!s[key])
                        return;
                    auto d = L.dist(it.file, s[key], sp + "." + key, kNonNeg);
                    ok = ok && d;
                    if (d) {
                        out = *d;
                        has = true;
                    }
                };
                opt("max_level", dm.stockpile.max_level, dm.stockpile.has_max_level);
                opt("max_draw", dm.stockpile.max_draw, dm.stockpile.has_max_draw);
                opt("refill", dm.stockpile.refill, dm.stockpile.has_refill);
                dm.has_stockpile = true;
            } else {
                ok = false;
            }
        }
        if (!ok)
            continue;
        dm.id = *id;
        dm.product = *prod;
        dm.country = L.country(*ctry);
        dm.quantity = *q;
        demand_index[*id] = static_cast<int>(m.demands.size());
        m.demands.push_back(std::move(dm));
        demand_item_of.push_back(&it);
    }
    if (demand_items.empty())
        L.error(mf, main.root, "demands", "no demands: a config needs at least one demand");

    // every demanded or consumed product must be made somewhere
    {
        std::vector<char> made(m.products.size(), 0);
        for (const auto &f : m.facilities)
            made[static_cast<std::size_t>(f.product)] = 1;
        for (std::size_t i = 0; i < m.demands.size(); ++i) {
            const auto &d = m.demands[i];
            if (!made[static_cast<std::size_t>(d.product)]) {
                const Item &it = *demand_item_of[i];
                L.error(it.file, it.node["product"], it.path + ".product",
                        "no facility makes product '" +
                            m.products[static_cast<std::size_t>(d.product)].id +
                            "': this demand can never be served");
            }
        }
        for (std::size_t i = 0; i < m.facilities.size(); ++i) {
            const auto &p = m.products[static_cast<std::size_t>(m.facilities[i].product)];
            for (const auto &[q, _] : p.recipe)
                if (!made[static_cast<std::size_t>(q)]) {
                    const Item &it = *facility_item_of[i];
                    L.error(it.file, it.node["product"], it.path + ".product",
                            "recipe input '" + m.products[static_cast<std::size_t>(q)].id +
                                "' of '" + p.id +
                                "' is made by no facility: this facility can never produce");
                }
        }
    }

    // lanes and events need every country: gather the sets first, resolve after.
    struct RawRestriction {
        std::string id;
        int event;
        Loader::CountrySet from, to;
        std::vector<char> products;
        double leakage;
    };
    std::vector<RawRestriction> raw_restrictions;

    std::map<std::string, int> lane_index;
    for (const auto &it : section(L, files, "lanes")) {
        if (!L.check_map(it.file, it.node, it.path, {"id", "from", "to", "products", "leakage"}))
            continue;
        auto id = unique_id(L, it, lane_index, "lane");
        auto from = L.country_set(it.file, it.node["from"], it.path + ".from");
        auto to = L.country_set(it.file, it.node["to"], it.path + ".to");
        auto prods = L.product_mask(it.file, it.node["products"], it.path + ".products");
        double leak = 0;
        if (it.node["leakage"]) {
            auto v = L.number(it.file, it.node["leakage"], it.path + ".leakage");
            if (v && (*v < 0 || *v > 1)) {
                L.error(it.file, it.node["leakage"], it.path + ".leakage",
                        "leakage " + Loader::fmt(*v) + " must lie in [0, 1]");
                v.reset();
            }
            if (!v)
                continue;
            leak = *v;
        }
        if (!id || !from || !to)
            continue;
        lane_index[*id] = 0;
        raw_restrictions.push_back({*id, -1, *from, *to, prods, leak});
    }

    std::map<std::string, int> event_index;
    struct ShockTargets {
        std::vector<int> facilities;
        bool has_fac = false, has_ctry = false, has_prod = false;
        Loader::CountrySet countries;
        std::vector<char> products;
    };
    std::vector<ShockTargets> shock_targets;
    for (const auto &it : items_of(L, files, ov, "events")) {
        if (!it.node.IsMap()) {
            L.error(it.file, it.node, it.path,
                    "expected a map (key: value entries) describing an event, found " +
                        show(it.node));
            continue;
        }
        L.map_marks[it.path] = mark_of(it.node);
        if (!it.node["type"]) {
            L.error(it.file, it.node, it.path + ".type",
                    "missing required key 'type': give export_control or capacity_shock");
            continue;
        }
        const auto type = L.string(it.file, it.node["type"], it.path + ".type");
        if (!type)
            continue;
        Event ev;
        std::vector<std::string> keys{"id", "type", "onset", "duration_months"};
        if (*type == "export_control") {
            ev.type = EventType::ExportControl;
            keys.insert(keys.end(), {"exporters", "importers", "products", "leakage"});
        } else if (*type == "capacity_shock") {
            ev.type = EventType::CapacityShock;
            keys.insert(keys.end(), {"targets", "fraction_lost"});
        } else {
            std::string msg = "unknown event type " + quote(*type);
            const auto near = nearest(*type, {"export_control", "capacity_shock"});
            if (!near.empty())
                msg += " (did you mean '" + near + "'?)";
            L.error(it.file, it.node["type"], it.path + ".type",
                    msg + "; expected export_control or capacity_shock");
            continue;
        }
        if (!L.check_map(it.file, it.node, it.path, keys))
            continue;
        auto id = unique_id(L, it, event_index, "event");
        bool ok = static_cast<bool>(id);
        if (id && lane_index.count(*id)) {
            L.error(it.file, it.node["id"], it.path + ".id",
                    "event id '" + *id +
                        "' is already a lane id; lanes and events share one set of ids");
            ok = false;
        }
        // onset
        const auto on = it.node["onset"];
        const auto op = it.path + ".onset";
        if (L.check_map(it.file, on, op,
                        {"probability", "month", "hazard_per_year", "active_at_start"})) {
            const int forms = (on["probability"] || on["month"] ? 1 : 0) +
                              (on["hazard_per_year"] ? 1 : 0) + (on["active_at_start"] ? 1 : 0);
            if (forms != 1) {
                std::vector<std::string> given;
                for (const auto &kv : on)
                    given.push_back(kv.first.Scalar());
                L.error(it.file, on, op,
                        "give exactly one onset form: {probability, month}, {hazard_per_year} or "
                        "{active_at_start: true}; found " +
                            (given.empty() ? std::string("none") : join(given)));
                ok = false;
            } else if (on["active_at_start"]) {
                auto b = L.boolean(it.file, on["active_at_start"], op + ".active_at_start");
                if (b && !*b) {
                    L.error(it.file, on["active_at_start"], op + ".active_at_start",
                            "active_at_start: false is not an onset; give probability and month or "
                            "hazard_per_year");
                    ok = false;
                }
                ev.onset = OnsetKind::ActiveAtStart;
                ok = ok && b;
            } else if (on["hazard_per_year"]) {
                auto h = L.dist(it.file, on["hazard_per_year"], op + ".hazard_per_year", kNonNeg);
                ok = ok && h;
                if (h)
                    ev.hazard_per_year = *h;
                ev.onset = OnsetKind::Hazard;
            } else {
                ev.onset = OnsetKind::Probability;
                std::optional<Dist> pr = Dist::fixed(1);
                if (on["probability"])
                    pr = L.dist(it.file, on["probability"], op + ".probability", kUnit);
                auto mo = L.dist(it.file, on["month"], op + ".month", kNonNeg);
                ok = ok && pr && mo;
                if (pr)
                    ev.probability = *pr;
                if (mo) {
                    ev.month = *mo;
                    const auto [lo, hi] = mo->support(&L.factor_dists);
                    (void)hi;
                    if (lo >= H) {
                        L.error(it.file, on["month"], op + ".month",
                                "onset month " + mo->describe() +
                                    " is never inside the horizon: months run from 0 to " +
                                    std::to_string(H - 1) + " (run.horizon_months is " +
                                    std::to_string(H) + ")");
                        ok = false;
                    }
                }
            }
        } else {
            ok = false;
        }
        auto dur =
            L.dist(it.file, it.node["duration_months"], it.path + ".duration_months", kNonNeg);
        ok = ok && dur;
        if (dur)
            ev.duration_months = *dur;
        if (ev.type == EventType::ExportControl) {
            auto ex = L.country_set(it.file, it.node["exporters"], it.path + ".exporters");
            auto im = L.country_set(it.file, it.node["importers"], it.path + ".importers");
            auto prods = L.product_mask(it.file, it.node["products"], it.path + ".products");
            if (it.node["leakage"]) {
                auto lk = L.dist(it.file, it.node["leakage"], it.path + ".leakage", kUnit);
                ok = ok && lk;
                if (lk)
                    ev.leakage = *lk;
            }
            ok = ok && ex && im;
            if (ok)
                raw_restrictions.push_back(
                    {*id, static_cast<int>(m.events.size()), *ex, *im, prods, 0.0});
            shock_targets.emplace_back();
        } else {
            ShockTargets st;
            const auto t = it.node["targets"];
            const auto tp = it.path + ".targets";
            if (L.check_map(it.file, t, tp, {"facilities", "countries", "products"})) {
                if (const auto fs_ = t["facilities"]) {
                    st.has_fac = true;
                    if (!fs_.IsSequence() || fs_.size() == 0) {
                        L.error(it.file, fs_, tp + ".facilities",
                                "expected a non-empty list of facility ids, found " + show(fs_));
                        ok = false;
                    } else {
                        for (std::size_t i = 0; i < fs_.size(); ++i) {
                            const auto fp = tp + ".facilities[" + std::to_string(i) + "]";
                            auto s = L.string(it.file, fs_[i], fp);
                            if (!s) {
                                ok = false;
                                continue;
                            }
                            const auto fi = facility_index.find(*s);
                            if (fi == facility_index.end()) {
                                std::string msg = "unknown facility " + quote(*s);
                                const auto near = nearest(*s, facility_index);
                                if (!near.empty())
                                    msg += " (did you mean '" + near + "'?)";
                                L.error(it.file, fs_[i], fp, msg);
                                ok = false;
                                continue;
                            }
                            st.facilities.push_back(fi->second);
                        }
                    }
                }
                if (t["countries"]) {
                    st.has_ctry = true;
                    auto cs = L.country_set(it.file, t["countries"], tp + ".countries");
                    ok = ok && cs;
                    if (cs)
                        st.countries = *cs;
                }
                if (t["products"]) {
                    st.has_prod = true;
                    st.products = L.product_mask(it.file, t["products"], tp + ".products");
                }
                if (!st.has_fac && !st.has_ctry && !st.has_prod) {
                    L.error(it.file, t, tp,
                            "no targets: give at least one of facilities, countries, products "
                            "(a facility is hit when it matches every one given)");
                    ok = false;
                }
            } else {
                ok = false;
            }
            if (it.node["fraction_lost"]) {
                auto fl =
                    L.dist(it.file, it.node["fraction_lost"], it.path + ".fraction_lost", kUnit);
                ok = ok && fl;
                if (fl)
                    ev.fraction_lost = *fl;
            }
            shock_targets.push_back(st);
        }
        if (!ok) {
            shock_targets.pop_back();
            continue;
        }
        ev.id = *id;
        event_index[*id] = static_cast<int>(m.events.size());
        m.events.push_back(std::move(ev));
    }

    parse_allocation(L, files, ov);

    // Every restriction holds a mask over the countries (and the engine works per country):
    // a bound keeps a config of many made-up codes from filling the memory.
    if (m.countries.size() > kMaxCountries)
        L.error(mf, main.root, "",
                std::to_string(m.countries.size()) + " distinct countries: at most " +
                    std::to_string(kMaxCountries) + " are allowed");
    if (!L.diags.empty()) {
        if (L.dropped > 0)
            L.diags.push_back({mf, 0, 0, "",
                               std::to_string(L.dropped) + " more error" +
                                   (L.dropped == 1 ? "" : "s") + " not shown (only the first " +
                                   std::to_string(kMaxErrors) + " are reported)"});
        throw InputError(std::move(L.diags));
    }

    // Homes (home_first): each country is its own home, unless a bloc joins it to others
    // (overlapping blocs merge into one home, the smallest country index naming it).
    {
        auto &home = m.allocation.home;
        home.resize(m.countries.size());
        for (std::size_t k = 0; k < home.size(); ++k)
            home[k] = static_cast<int>(k);
        std::function<int(int)> root = [&](int k) {
            return home[static_cast<std::size_t>(k)] == k ? k
                                                          : root(home[static_cast<std::size_t>(k)]);
        };
        for (const auto &b : m.allocation.blocs) {
            int first = -1;
            for (const auto &code : L.groups[b]) {
                const auto it = L.country_index.find(code);
                if (it == L.country_index.end())
                    continue; // a member with no facility or demand here
                const int r = root(it->second);
                if (first < 0)
                    first = r;
                else if (r != first)
                    home[static_cast<std::size_t>(std::max(r, first))] = std::min(r, first);
                first = std::min(first, r);
            }
        }
        for (std::size_t k = 0; k < home.size(); ++k)
            home[k] = root(static_cast<int>(k));
    }

    // resolve country sets now that every country is known
    for (const auto &r : raw_restrictions) {
        Restriction res;
        res.id = r.id;
        res.event = r.event;
        res.exporter = L.resolve(r.from);
        res.importer = L.resolve(r.to);
        res.product = r.products;
        res.static_leakage = r.leakage;
        if (r.event >= 0)
            m.events[static_cast<std::size_t>(r.event)].restriction =
                static_cast<int>(m.restrictions.size());
        m.restrictions.push_back(std::move(res));
    }
    // lanes first, then events (stable by construction: lanes were pushed first)
    for (std::size_t e = 0; e < m.events.size(); ++e) {
        auto &ev = m.events[e];
        if (ev.type != EventType::CapacityShock)
            continue;
        const auto &st = shock_targets[e];
        const auto cmask = st.has_ctry ? L.resolve(st.countries) : std::vector<char>();
        // The candidates: the facilities named (in facility order), else every facility.
        std::vector<int> named = st.facilities;
        std::sort(named.begin(), named.end());
        named.erase(std::unique(named.begin(), named.end()), named.end());
        const std::size_t n_cand = st.has_fac ? named.size() : m.facilities.size();
        for (std::size_t c = 0; c < n_cand; ++c) {
            const std::size_t f = st.has_fac ? static_cast<std::size_t>(named[c]) : c;
            const auto &fac = m.facilities[f];
            bool match = true;
            if (st.has_ctry)
                match = match && cmask[static_cast<std::size_t>(fac.country)];
            if (st.has_prod)
                match = match && st.products[static_cast<std::size_t>(fac.product)];
            if (match)
                ev.facilities.push_back(static_cast<int>(f));
        }
    }

    // components of the recipe graph (union-find)
    {
        std::vector<int> parent(m.products.size());
        for (std::size_t i = 0; i < parent.size(); ++i)
            parent[i] = static_cast<int>(i);
        std::function<int(int)> find = [&](int x) {
            while (parent[static_cast<std::size_t>(x)] != x)
                x = parent[static_cast<std::size_t>(x)] =
                    parent[static_cast<std::size_t>(parent[static_cast<std::size_t>(x)])];
            return x;
        };
        for (std::size_t p = 0; p < m.products.size(); ++p)
            for (const auto &[q, _] : m.products[p].recipe)
                parent[static_cast<std::size_t>(find(static_cast<int>(p)))] = find(q);
        std::map<int, int> comp;
        for (std::size_t p = 0; p < m.products.size(); ++p) {
            const int r = find(static_cast<int>(p));
            if (!comp.count(r))
                comp[r] = static_cast<int>(comp.size());
            m.products[p].component = comp[r];
        }
        m.n_components = static_cast<int>(comp.size());
    }

    // (product, country) nodes
    {
        std::map<std::pair<int, int>, int> node_of;
        for (const auto &f : m.facilities) {
            const auto key = std::make_pair(f.product, f.country);
            auto it = node_of.find(key);
            if (it == node_of.end()) {
                it = node_of.emplace(key, static_cast<int>(m.node_names.size())).first;
                m.node_names.push_back(m.products[static_cast<std::size_t>(f.product)].id + "@" +
                                       m.countries[static_cast<std::size_t>(f.country)]);
                m.node_product.push_back(f.product);
                m.node_country.push_back(f.country);
            }
            m.facility_node.push_back(it->second);
        }
    }
    check_design(L, m, main);
    return std::move(L.m); // m is L.m: a plain `return m` would copy the whole model
}

} // namespace

namespace {

/// The most entities (facilities, demands, events) the scenarios' models may hold in all: each
/// scenario is a whole model, so (scenarios + 1) x entities bounds the memory and the load time
/// (~2 KB and ~1 us an entity).
constexpr std::uint64_t kMaxScenarioEntities = 1'000'000;

/// A `set:` entry of a scenario, to place the errors it causes: at the scenario's key, not at
/// the entity it edits.
struct SetEdit {
    std::string file;   // the edited entity's file
    std::string prefix; // key path of the shallowest node the set created or replaced
    std::string full;   // key path of the node it set
    std::string kp;     // the scenario's key path, e.g. scenarios[1].set.facilities/a/capacity
    YAML::Mark mark;    // where the scenario writes the key
};

bool under(const std::string &path, const std::string &prefix) {
    return path.compare(0, prefix.size(), prefix) == 0 &&
           (path.size() == prefix.size() || path[prefix.size()] == '.' ||
            path[prefix.size()] == '[');
}

/// Builds the scenarios of `m` (config `scenarios:`): each is the baseline's files with the
/// scenario's edits applied (set values at key paths, add entities, remove entities by id), built
/// like any config. The files are not copied: the edits make an Overlay of the sections they
/// change, in which only the edited entities are copies (copy_marked); unchanged facilities and
/// demands reuse the baseline's parsed entities when they can. Errors name the scenario; an error
/// in a value a `set:` wrote is placed at that key of the scenario.
void add_scenarios(Model &m, const std::vector<ParsedFile> &files) {
    const auto &main = files.front();
    const auto list = main.root["scenarios"];
    if (!list)
        return;
    const std::string &mf = main.path;
    Loader L;
    L.m.files = m.files;
    auto fail = [&](const YAML::Node &n, const std::string &path, const std::string &msg) {
        L.error(mf, n, path, msg);
        throw InputError(std::move(L.diags));
    };
    if (!list.IsSequence())
        fail(list, "scenarios",
             "expected a list of scenarios (each `- id: ...` with set/add/remove), found " +
                 show(list));
    const std::uint64_t entities = m.facilities.size() + m.demands.size() + m.events.size();
    if ((list.size() + 1) * entities > kMaxScenarioEntities)
        fail(list, "scenarios",
             std::to_string(list.size()) + " scenarios of a model of " + std::to_string(entities) +
                 " facilities, demands and events: each scenario is a whole model, and (scenarios "
                 "+ 1) x entities may be at most " +
                 std::to_string(kMaxScenarioEntities) + "; split the study into several configs");
    static const std::vector<std::string> sections{"facilities", "demands", "events",
                                                   "factors",    "regimes", "products"};
    // The baseline's entries of each section, with their ids (to find what a scenario edits).
    std::map<std::string, std::vector<Item>> base_items;
    std::map<std::string, std::unordered_map<std::string, std::size_t>> base_ids;
    {
        Loader quiet; // the baseline loaded: its sections are well formed
        for (const auto &sec : sections) {
            std::vector<Item> items;
            if (sec == "regimes") {
                // as build() chooses them: the main file's, else the first included file's
                for (const auto &pf : files) {
                    const auto rs = pf.root["regimes"];
                    if (!rs || !rs.IsSequence())
                        continue;
                    for (std::size_t i = 0; i < rs.size(); ++i)
                        items.push_back({pf.path, rs[i], "regimes[" + std::to_string(i) + "]"});
                    break;
                }
            } else {
                items = section(quiet, files, sec.c_str());
            }
            auto &ids = base_ids[sec];
            for (std::size_t k = 0; k < items.size(); ++k) {
                // Facilities and demands: entry k is the baseline's entity k (all of them loaded).
                if (sec == "facilities" || sec == "demands")
                    items[k].base = static_cast<int>(k);
                const auto idn = items[k].node.IsMap() ? items[k].node["id"] : YAML::Node();
                if (idn && idn.IsScalar())
                    ids.emplace(idn.Scalar(), k);
            }
            base_items[sec] = std::move(items);
        }
    }
    // The section named `sec` (written at node n); an error unless a scenario may change it.
    auto check_section = [&](const YAML::Node &n, const std::string &path,
                             const std::optional<std::string> &sec) {
        if (!sec || std::find(sections.begin(), sections.end(), *sec) == sections.end()) {
            const auto near = sec ? nearest(*sec, sections) : std::string();
            fail(n, path,
                 (sec ? quote(*sec) : show(n)) +
                     " is not a section a scenario can change; expected one of "
                     "facilities, demands, events, factors, regimes, products" +
                     (near.empty() ? "" : " (did you mean '" + near + "'?)"));
        }
        return *sec;
    };
    auto scalar = [](const YAML::Node &n) {
        return n.IsScalar() ? std::optional<std::string>(n.Scalar()) : std::nullopt;
    };
    std::set<std::string> ids;
    for (std::size_t si = 0; si < list.size(); ++si) {
        const auto sc = list[si];
        const std::string sp = "scenarios[" + std::to_string(si) + "]";
        if (!L.check_map(mf, sc, sp, {"id", "description", "set", "add", "remove"}) ||
            !L.diags.empty())
            throw InputError(std::move(L.diags));
        const auto id = L.identifier(mf, sc["id"], sp + ".id");
        if (!id)
            throw InputError(std::move(L.diags));
        if (*id == "baseline" || ids.count(*id))
            fail(sc["id"], sp + ".id",
                 *id == "baseline" ? "'baseline' names the model itself; choose another id"
                                   : "duplicate scenario id '" + *id + "'");
        ids.insert(*id);
        std::string description;
        if (sc["description"])
            if (auto d = L.string(mf, sc["description"], sp + ".description"))
                description = *d;

        Overlay ov;
        ov.base = &m;
        // A section the scenario changes: the baseline's entries, to edit.
        auto touch = [&](const std::string &sec) -> std::vector<Item> & {
            auto it = ov.sections.find(sec);
            if (it == ov.sections.end())
                it = ov.sections.emplace(sec, base_items[sec]).first;
            return it->second;
        };
        std::vector<SetEdit> edits;
        std::set<std::pair<std::string, std::size_t>> cloned; // (section, entry) copied already
        if (const auto set = sc["set"]) {
            if (!set.IsMap())
                fail(set, sp + ".set",
                     "expected a map of key paths to values (e.g. "
                     "demands/us_defense/stockpile/initial: {fixed: 300}), found " +
                         show(set));
            for (const auto &kv : set) {
                if (!kv.first.IsScalar())
                    fail(kv.first, sp + ".set",
                         "expected a key path <section>/<id>/<key>[/<key>...], found " +
                             show(kv.first));
                const std::string key = kv.first.Scalar();
                const std::string kp = sp + ".set." + path_key(key);
                std::vector<std::string> parts;
                std::stringstream ss(key);
                for (std::string part; std::getline(ss, part, '/');)
                    parts.push_back(part);
                if (parts[0] == "allocation" && parts.size() >= 2 && key.back() != '/' &&
                    std::none_of(parts.begin(), parts.end(), [](auto &x) { return x.empty(); })) {
                    // allocation/<key>[/<key>...]: a map, not a list of entries with ids.
                    if (!ov.has_allocation) {
                        const auto base = main.root["allocation"];
                        ov.allocation.reset(base && base.IsMap() ? copy_marked(base)
                                                                 : YAML::Node(YAML::NodeType::Map));
                        ov.has_allocation = true;
                    }
                    SetEdit edit{mf, "", "allocation", kp, kv.first.Mark()};
                    YAML::Node node = ov.allocation;
                    for (std::size_t k = 1; k + 1 < parts.size(); ++k) {
                        edit.full += "." + parts[k];
                        YAML::Node next = node[parts[k]];
                        if (!next || next.IsNull()) {
                            if (edit.prefix.empty())
                                edit.prefix = edit.full;
                            node[parts[k]] = YAML::Node(YAML::NodeType::Map);
                            next = node[parts[k]];
                        } else if (!next.IsMap()) {
                            fail(kv.first, kp,
                                 "'" + parts[k] +
                                     "' of allocation is not a map; set it as a "
                                     "whole instead");
                        }
                        node.reset(next);
                    }
                    edit.full += "." + parts.back();
                    if (edit.prefix.empty())
                        edit.prefix = edit.full;
                    node[parts.back()] = copy_marked(kv.second);
                    edits.push_back(std::move(edit));
                    continue;
                }
                if (parts.size() < 3 || key.back() == '/' ||
                    std::any_of(parts.begin(), parts.end(), [](auto &x) { return x.empty(); }))
                    fail(kv.first, kp,
                         "expected a key path <section>/<id>/<key>[/<key>...], e.g. "
                         "events/cn_ban/leakage (or allocation/<key>)");
                check_section(kv.first, kp, parts[0]);
                const auto found = base_ids[parts[0]].find(parts[1]);
                if (found == base_ids[parts[0]].end())
                    fail(kv.first, kp,
                         "no entry of " + parts[0] + " has id " + quote(parts[1]) +
                             " (to add one, use add:)");
                if (parts[2] == "id")
                    fail(kv.first, kp, "a scenario cannot rename an entry (set its id)");
                Item &item = touch(parts[0])[found->second];
                if (cloned.emplace(parts[0], found->second).second) {
                    // reset, not =: YAML::Node::operator= writes into the node it refers to
                    item.node.reset(copy_marked(item.node)); // the baseline's tree stays as it is
                    item.base = -1;
                }
                SetEdit edit{item.file, "", item.path, kp, kv.first.Mark()};
                YAML::Node node = item.node;
                for (std::size_t k = 2; k + 1 < parts.size(); ++k) {
                    edit.full += "." + parts[k];
                    YAML::Node next = node[parts[k]];
                    if (!next || next.IsNull()) {
                        if (edit.prefix.empty())
                            edit.prefix = edit.full; // created here
                        node[parts[k]] = YAML::Node(YAML::NodeType::Map);
                        next = node[parts[k]];
                    } else if (!next.IsMap()) {
                        fail(kv.first, kp,
                             "'" + parts[k] + "' of " + parts[0] + "/" + parts[1] +
                                 " is not a map; set it as a whole instead");
                    }
                    node.reset(next);
                }
                edit.full += "." + parts.back();
                if (edit.prefix.empty())
                    edit.prefix = edit.full;
                node[parts.back()] = copy_marked(kv.second);
                edits.push_back(std::move(edit));
            }
        }
        if (const auto add = sc["add"]) {
            if (!add.IsMap())
                fail(add, sp + ".add",
                     "expected a map of sections to lists of entries, found " + show(add));
            for (const auto &kv : add) {
                const std::string kp =
                    sp + ".add." + (kv.first.IsScalar() ? path_key(kv.first.Scalar()) : "?");
                const std::string sec = check_section(kv.first, kp, scalar(kv.first));
                if (!kv.second.IsSequence())
                    fail(kv.second, kp, "expected a list of entries, found " + show(kv.second));
                auto &items = touch(sec);
                for (std::size_t i = 0; i < kv.second.size(); ++i)
                    items.push_back({mf, kv.second[i], kp + "[" + std::to_string(i) + "]"});
            }
        }
        if (const auto rem = sc["remove"]) {
            if (!rem.IsMap())
                fail(rem, sp + ".remove",
                     "expected a map of sections to lists of ids, found " + show(rem));
            for (const auto &kv : rem) {
                const std::string kp =
                    sp + ".remove." + (kv.first.IsScalar() ? path_key(kv.first.Scalar()) : "?");
                const std::string sec = check_section(kv.first, kp, scalar(kv.first));
                if (!kv.second.IsSequence())
                    fail(kv.second, kp, "expected a list of ids, found " + show(kv.second));
                auto &items = touch(sec);
                std::unordered_set<std::string> present, drop;
                for (const auto &it : items)
                    if (it.node.IsMap() && it.node["id"] && it.node["id"].IsScalar())
                        present.insert(it.node["id"].Scalar());
                for (std::size_t i = 0; i < kv.second.size(); ++i) {
                    const auto idn = kv.second[i];
                    if (!idn.IsScalar())
                        fail(idn, kp, "expected an id, found " + show(idn));
                    if (!present.count(idn.Scalar()))
                        fail(idn, kp + "[" + std::to_string(i) + "]",
                             "no entry of " + sec + " has id " + quote(idn.Scalar()));
                    drop.insert(idn.Scalar());
                }
                // Not std::erase_if: it shifts the kept entries by assignment, and
                // YAML::Node::operator= writes into the node it refers to, i.e. into the
                // baseline's parsed entries that every later scenario starts from. Copying the
                // kept entries into a new list only copies node handles.
                std::vector<Item> kept;
                kept.reserve(items.size());
                for (const auto &it : items)
                    if (!(it.node.IsMap() && it.node["id"] && it.node["id"].IsScalar() &&
                          drop.count(it.node["id"].Scalar())))
                        kept.push_back(it);
                items.swap(kept);
            }
        }
        ov.reuse = !ov.find("products") && !ov.find("factors") && !ov.find("regimes");
        // (an edited allocation leaves the entities as they are: reuse holds)
        try {
            Model sm = build(files, m.files, &ov);
            m.scenarios.push_back({*id, description, std::make_shared<Model>(std::move(sm))});
        } catch (const InputError &e) {
            std::vector<Diagnostic> diags = e.diagnostics();
            if (diags.empty())
                diags.push_back({mf, 0, 0, sp, e.what()});
            for (auto &d : diags) {
                // An error in what a `set:` wrote: at the scenario's key (the deepest match).
                const SetEdit *best = nullptr;
                for (const auto &ed : edits)
                    if (d.file == ed.file && under(d.path, ed.prefix) &&
                        (!best || ed.prefix.size() > best->prefix.size()))
                        best = &ed;
                if (best) {
                    d.file = mf;
                    d.path =
                        best->kp + (under(d.path, best->full) ? d.path.substr(best->full.size())
                                                              : std::string());
                    if (d.line == 0) {
                        d.line = best->mark.line + 1;
                        d.column = best->mark.column + 1;
                    }
                }
                d.message = "in scenario '" + *id + "': " + d.message;
            }
            throw InputError(std::move(diags));
        }
    }
}

Model load_with_reader(const std::string &text, const std::string &path, const FileReader &reader) {
    std::vector<ParsedFile> files;
    std::vector<std::string> stack;
    std::vector<ConfigFile> texts;
    try {
        parse_with_includes(path, text, files, stack, texts, reader);
        Model m = build(files, std::move(texts));
        add_scenarios(m, files);
        set_trials(m, m.run.requested_trials); // the design now spans the scenarios' inputs
        return m;
    } catch (const YAML::Exception &e) {
        // Every bad input should have been caught with its own message above; this is the net
        // under them, so that bad input is always an InputError (exit code 2), never a crash.
        throw InputError(std::vector<Diagnostic>{
            {path, e.mark.line >= 0 ? e.mark.line + 1 : 0, e.mark.line >= 0 ? e.mark.column + 1 : 0,
             "",
             "cannot interpret the config here (" + e.msg +
                 "); check the structure of this part against docs/config-reference.md"}});
    }
}

} // namespace

void set_trials(Model &m, std::uint64_t trials) {
    auto &r = m.run;
    r.requested_trials = trials;
    if (r.stop.enabled)
        r.stop.max_trials = trials;
    if (r.sensitivity == Sensitivity::Sobol) {
        std::size_t k = 0;
        for (const auto &in : design_inputs_union(m))
            k += sensitivity_selected(m, in.name);
        if (k == 0)
            throw InputError("sensitivity: sobol: no inputs to study");
        r.pick_freeze_rows = trials;
        r.trials = trials * (k + 2);
        if (r.trials > 0xFFFFFFFFull)
            throw InputError("sensitivity: sobol: " + std::to_string(trials) + " base rows x (" +
                             std::to_string(k) + " inputs + 2) exceed 2^32 trials");
    } else {
        r.trials = trials;
        if (r.replicates < 1 || trials % static_cast<std::uint64_t>(r.replicates) != 0)
            throw InputError("run.trials (" + std::to_string(trials) +
                             ") must be a multiple of run.replicates (" +
                             std::to_string(r.replicates) +
                             ") so that every replicate has as many trials");
    }
    // Scenarios run on the baseline's trials: the same run settings.
    for (auto &sc : m.scenarios) {
        if (sc.model.use_count() == 1) {
            // The only owner (the loader made it, non-const): set the run in place rather than
            // copy a whole model at every call.
            const_cast<Model &>(*sc.model).run = r;
        } else {
            auto copy = std::make_shared<Model>(*sc.model);
            copy->run = r;
            sc.model = std::move(copy);
        }
    }
}

void select_scenarios(Model &m, const std::vector<std::string> &ids) {
    if (ids.empty())
        return;
    std::vector<std::string> known{"baseline"};
    for (const auto &sc : m.scenarios)
        known.push_back(sc.id);
    for (const auto &id : ids)
        if (std::find(known.begin(), known.end(), id) == known.end()) {
            const auto near = nearest(id, known);
            std::string list;
            for (const auto &k : known)
                list += (list.empty() ? "" : ", ") + k;
            throw InputError("--scenario " + quote(id) + ": no such scenario (the config has " +
                             list + ")" + (near.empty() ? "" : "; did you mean '" + near + "'?"));
        }
    std::vector<ScenarioModel> kept;
    for (auto &sc : m.scenarios)
        if (std::find(ids.begin(), ids.end(), sc.id) != ids.end())
            kept.push_back(sc);
    m.scenarios = std::move(kept);
}

Model load_model_from_string(const std::string &text, const std::string &path) {
    return load_with_reader(text, path, read_file);
}

Model load_model(const std::string &path) {
    return load_model_from_string(read_file(path), path);
}

Model load_model_from_files(const std::vector<ConfigFile> &files) {
    if (files.empty())
        throw InputError("no config texts given");
    const auto reader = [&](const std::string &path) -> std::string {
        for (const auto &f : files)
            if (f.path == path)
                return f.text;
        file_error(path, "not among the stored config files");
    };
    return load_with_reader(files.front().text, files.front().path, reader);
}

std::string describe_model(const Model &m) {
    std::ostringstream os;
    os << "model '" << m.name << "'";
    if (!m.description.empty())
        os << ": " << m.description;
    os << "\n";
    os << "run: " << m.run.trials << " trials, seed " << m.run.seed << ", horizon "
       << m.run.horizon_months << " months" << (m.run.start.empty() ? "" : " from " + m.run.start)
       << ", blocks of " << m.run.block_size << " trials\n";
    os << "regimes (" << m.regimes.size() << "):";
    for (const auto &r : m.regimes)
        os << " " << r.id << " (" << r.weight << ")";
    os << "\n";
    if (!m.factors.empty()) {
        os << "shared factors (" << m.factors.size() << "):";
        for (const auto &f : m.factors)
            os << " " << f.id;
        os << "\n";
    }
    os << "products (" << m.products.size() << ") in " << m.n_components << " value chain(s):\n";
    std::vector<std::vector<const Facility *>> facilities_of(m.products.size());
    std::size_t composite = 1;
    for (const auto &f : m.facilities) {
        facilities_of[static_cast<std::size_t>(f.product)].push_back(&f);
        composite += std::isnan(f.capacity.mean());
    }
    for (const auto &p : m.products) {
        os << "  " << p.id;
        if (p.recipe.empty()) {
            os << " (primary)";
        } else {
            os << " <- ";
            for (std::size_t i = 0; i < p.recipe.size(); ++i)
                os << (i ? " + " : "") << p.recipe[i].second << " "
                   << m.products[static_cast<std::size_t>(p.recipe[i].first)].id;
        }
        // facilities per country
        std::map<std::string, std::pair<int, double>> by_country;
        for (const Facility *fp : facilities_of[static_cast<std::size_t>(&p - m.products.data())]) {
            const Facility &f = *fp;
            {
                auto &e = by_country[m.countries[static_cast<std::size_t>(f.country)]];
                e.first += 1;
                double mu = f.capacity.mean();
                if (std::isnan(mu)) {
                    // Composite (factors, products, regimes): estimate the mean by sampling;
                    // 4000 draws each, fewer when there are many (at most ~2 million in all).
                    std::vector<double> fac(m.factors.size());
                    double acc = 0;
                    const int n = static_cast<int>(std::clamp<std::size_t>(
                        std::size_t(2'000'000) / composite / (m.factors.size() + 1), 100, 4000));
                    for (int t = 0; t < n; ++t) {
                        SampleContext ctx{0, fac.data()};
                        for (std::size_t k = 0; k < m.factors.size(); ++k) {
                            Stream s(0, static_cast<std::uint64_t>(t),
                                     quantity_id("factor/" + m.factors[k].id));
                            fac[k] = m.factors[k].dist.sample(s, ctx);
                        }
                        Stream s(0, static_cast<std::uint64_t>(t), quantity_id("describe"));
                        acc += f.capacity.sample(s, ctx);
                    }
                    mu = acc / n;
                }
                e.second += mu;
            }
        }
        os << "\n    facilities:";
        for (const auto &[c, e] : by_country)
            os << " " << c << " x" << e.first << " (~" << e.second << " " << p.unit << "/yr)";
        os << "\n";
    }
    os << "demands (" << m.demands.size() << "):\n";
    for (const auto &d : m.demands) {
        os << "  " << d.id << ": " << m.products[static_cast<std::size_t>(d.product)].id << " in "
           << m.countries[static_cast<std::size_t>(d.country)] << ", tier " << d.tier << ", "
           << d.quantity.describe() << " /yr" << (d.has_stockpile ? ", stockpile" : "") << "\n";
    }
    if (!m.restrictions.empty()) {
        os << "trade restrictions (" << m.restrictions.size() << "):\n";
        for (const auto &r : m.restrictions) {
            auto list = [&](const std::vector<char> &mask) {
                std::string s;
                for (std::size_t c = 0; c < mask.size(); ++c)
                    if (mask[c])
                        s += (s.empty() ? "" : ",") + m.countries[c];
                return s.empty() ? std::string("-") : s;
            };
            os << "  " << r.id << (r.event >= 0 ? " (export control)" : " (static lane)") << ": "
               << list(r.exporter) << " -> " << list(r.importer) << "\n";
        }
    }
    os << "events (" << m.events.size() << "):\n";
    for (const auto &e : m.events) {
        os << "  " << e.id << ": "
           << (e.type == EventType::ExportControl ? "export control" : "capacity shock");
        if (e.type == EventType::CapacityShock)
            os << " on " << e.facilities.size() << " facilities";
        os << ", onset "
           << (e.onset == OnsetKind::ActiveAtStart ? "active at start"
               : e.onset == OnsetKind::Hazard
                   ? "hazard " + e.hazard_per_year.describe() + "/yr"
                   : "p=" + e.probability.describe() + " at month " + e.month.describe())
           << ", duration " << e.duration_months.describe() << " months\n";
    }
    {
        const auto &al = m.allocation;
        os << "allocation: "
           << (al.rule == AllocationRule::Coordinated ? "coordinated (one pooled market)"
               : al.rule == AllocationRule::HomeFirst ? "home_first (each home first, then "
                                                        "the coordinated rule)"
                                                      : "proportional (contracts first, then "
                                                        "the coordinated rule)");
        if (al.rule == AllocationRule::HomeFirst && !al.blocs.empty()) {
            os << "; blocs:";
            for (const auto &b : al.blocs)
                os << " " << b;
        }
        if (al.rule == AllocationRule::Proportional)
            os << "; reference shares: "
               << (al.reference == ReferenceShares::Pooled ? "pooled" : "trade_shares");
        os << "\n";
    }
    os << "countries (" << m.countries.size() << "):";
    for (const auto &c : m.countries)
        os << " " << c;
    os << "\n";
    const auto inputs = design_inputs(m);
    os << "inputs (" << inputs.size() << " uncertain quantities, "
       << (m.run.sampler == SamplerKind::MC    ? "sampler mc"
           : m.run.sampler == SamplerKind::LHS ? "sampler lhs"
                                               : "sampler sobol")
       << ", " << m.run.replicates << " replicate(s)):\n";
    for (const auto &in : inputs)
        os << "  " << in.name << "\n";
    for (const auto &sc : m.scenarios)
        os << "scenario " << sc.id << ": " << sc.model->facilities.size() << " facilities, "
           << sc.model->demands.size() << " demands, " << sc.model->events.size() << " events"
           << (sc.description.empty() ? "" : " (" + sc.description + ")") << "\n";
    return os.str();
}

} // namespace chokepoint
