#include "config.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <yaml-cpp/yaml.h>

namespace chokepoint {

namespace fs = std::filesystem;

std::string Diagnostic::format() const {
    std::ostringstream os;
    os << file;
    if (line > 0)
        os << ':' << line << ':' << column;
    os << ": ";
    if (!path.empty())
        os << path << ": ";
    os << message;
    return os.str();
}

namespace {
std::string join_diags(const std::vector<Diagnostic> &diags) {
    std::ostringstream os;
    for (std::size_t i = 0; i < diags.size(); ++i) {
        if (i)
            os << '\n';
        os << "error: " << diags[i].format();
    }
    return os.str();
}
} // namespace

InputError::InputError(std::vector<Diagnostic> diags)
    : std::runtime_error(join_diags(diags)), diags_(std::move(diags)) {}
InputError::InputError(const std::string &message) : std::runtime_error("error: " + message) {}

namespace {

constexpr std::size_t kMaxErrors = 50;
constexpr double kInf = std::numeric_limits<double>::infinity();

std::size_t edit_distance(const std::string &a, const std::string &b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::string nearest(const std::string &key, const std::vector<std::string> &known) {
    std::string best;
    std::size_t bd = 1000;
    for (const auto &k : known) {
        const std::size_t d = edit_distance(key, k);
        if (d < bd) {
            bd = d;
            best = k;
        }
    }
    if (bd <= std::max<std::size_t>(2, key.size() / 3))
        return best;
    return {};
}

std::string show(const YAML::Node &n) {
    if (!n.IsDefined() || n.IsNull())
        return "null";
    if (n.IsScalar())
        return "'" + n.Scalar() + "'";
    if (n.IsSequence())
        return "a list";
    if (n.IsMap())
        return "a map";
    return "?";
}

struct Item {
    std::string file; // file this node came from
    YAML::Node node;
    std::string path; // e.g. facilities[3]
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

    void error(const std::string &file, const YAML::Node &n, const std::string &path,
               const std::string &msg) {
        if (diags.size() >= kMaxErrors)
            return;
        Diagnostic d{file, 0, 0, path, msg};
        if (n.IsDefined()) {
            const auto mark = n.Mark();
            if (mark.line >= 0) {
                d.line = mark.line + 1;
                d.column = mark.column + 1;
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
        diags.push_back(std::move(d));
    }

    /// Where each map checked so far starts, by key path (to place "missing key" errors).
    std::map<std::string, YAML::Mark> map_marks;

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
        map_marks[path] = n.Mark();
        std::set<std::string> seen;
        for (const auto &kv : n) {
            const std::string key = kv.first.Scalar();
            const std::string kp = path.empty() ? key : path + "." + key;
            if (!seen.insert(key).second)
                error(f, kv.first, kp, "duplicate key '" + key + "'");
            if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
                std::string msg = "unknown key '" + key + "'";
                const auto near = nearest(key, allowed);
                if (!near.empty())
                    msg += " (did you mean '" + near + "'?)";
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
            error(f, n, path, "expected a finite number, found '" + s + "'");
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
                  "expected a whole number >= " + std::to_string(min) + ", found '" + s + "'");
            return std::nullopt;
        }
        errno = 0;
        const unsigned long long v = std::strtoull(s.c_str(), nullptr, 10);
        if (errno == ERANGE || v < min || v > max) {
            error(f, n, path,
                  "value '" + s + "' out of range: must be in [" + std::to_string(min) + ", " +
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
        static const std::regex re("[A-Za-z_][A-Za-z0-9_.-]*");
        auto s = string(f, n, path);
        if (!s)
            return s;
        if (!std::regex_match(*s, re)) {
            error(f, n, path,
                  "bad id '" + *s +
                      "': ids start with a letter or '_' and use letters, digits, '_', '.', '-'");
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
        if (range.rule && (lo < range.lo - 1e-12 || hi > range.hi + 1e-12)) {
            std::ostringstream os;
            os << "distribution " << d->describe() << " can take values in [" << lo << ", " << hi
               << "]: " << range.rule;
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
        const std::string pp = path + "." + kind;
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
                error(f, p, pp, "truncation interval [" + fmt(lo) + ", " + fmt(hi) + "] is empty");
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
                              " weights (one per value)");
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
                    error(f, ws, pp + ".weights", "weights must sum to a positive number");
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
                std::vector<std::string> known;
                for (const auto &[k, _] : factor_index)
                    known.push_back(k);
                std::string msg = "unknown factor '" + *id + "'";
                const auto near = nearest(*id, known);
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
                    error(f, p, pp, "no distribution for regime '" + r.id + "' and no 'default'");
                    return std::nullopt;
                }
            }
            return d;
        }
        std::string msg = "unknown distribution '" + kind + "'";
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

    bool valid_country_code(const std::string &s) {
        static const std::regex re("[A-Z][A-Z0-9_]{1,15}");
        return std::regex_match(s, re);
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
                std::vector<std::string> known;
                for (const auto &[k, _] : groups)
                    known.push_back(k);
                std::string msg =
                    "'" + *s +
                    "' is neither a country group nor a country code (upper-case, e.g. CN, US)";
                const auto near = nearest(*s, known);
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
                error(f, n, path, "empty country list");
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
            std::vector<std::string> known;
            for (const auto &[k, _] : product_index)
                known.push_back(k);
            std::string msg = "unknown product '" + *s + "'";
            const auto near = nearest(*s, known);
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

std::string read_file(const std::string &path) {
    std::error_code ec;
    if (fs::is_directory(path, ec))
        throw InputError(path + ": is a directory, not a config file");
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw InputError(path + ": cannot open config file (" + std::strerror(errno) + ")");
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

YAML::Node parse_yaml(const std::string &text, const std::string &path) {
    if (text.find('\0') != std::string::npos)
        throw InputError(path + ": not a text file (contains NUL bytes); expected a YAML config");
    // YAML forbids tabs in indentation; yaml-cpp's own message for them is obscure.
    std::size_t line_start = 0;
    int line_no = 1;
    while (line_start < text.size()) {
        std::size_t i = line_start;
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) {
            if (text[i] == '\t')
                throw InputError(std::vector<Diagnostic>{
                    {path, line_no, static_cast<int>(i - line_start + 1), "",
                     "tab character in indentation: YAML does not allow tabs for indentation; use "
                     "spaces"}});
            ++i;
        }
        const auto eol = text.find('\n', line_start);
        if (eol == std::string::npos)
            break;
        line_start = eol + 1;
        ++line_no;
    }
    try {
        return YAML::Load(text);
    } catch (const YAML::Exception &e) {
        throw InputError(std::vector<Diagnostic>{
            {path, e.mark.line + 1, e.mark.column + 1, "", "YAML syntax error: " + e.msg}});
    }
}

void parse_with_includes(const std::string &path, const std::string &text,
                         std::vector<ParsedFile> &out, std::vector<std::string> &stack,
                         std::vector<ConfigFile> &files) {
    const auto canon = fs::weakly_canonical(path).string();
    if (std::find(stack.begin(), stack.end(), canon) != stack.end())
        throw InputError(path + ": include cycle (the file includes itself, directly or not)");
    for (const auto &pf : out)
        if (fs::weakly_canonical(pf.path).string() == canon)
            throw InputError(path + ": included twice");
    YAML::Node root = parse_yaml(text, path);
    if (!root.IsDefined() || root.IsNull())
        throw InputError(std::vector<Diagnostic>{
            {path, 0, 0, "",
             "empty config: expected a map with at least 'products', 'facilities' and 'demands'"}});
    if (!root.IsMap())
        throw InputError(std::vector<Diagnostic>{
            {path, root.Mark().line + 1, root.Mark().column + 1, "",
             "expected a map of sections (products, facilities, demands, ...) at the top level"}});
    out.push_back({path, root});
    files.push_back({path, text});
    stack.push_back(canon);
    if (const auto inc = root["include"]) {
        if (!inc.IsSequence())
            throw InputError(
                std::vector<Diagnostic>{{path, inc.Mark().line + 1, inc.Mark().column + 1,
                                         "include", "expected a list of file paths"}});
        for (std::size_t i = 0; i < inc.size(); ++i) {
            if (!inc[i].IsScalar())
                throw InputError(std::vector<Diagnostic>{
                    {path, inc[i].Mark().line + 1, inc[i].Mark().column + 1,
                     "include[" + std::to_string(i) + "]", "expected a file path"}});
            const auto sub = (fs::path(path).parent_path() / inc[i].Scalar()).string();
            std::string subtext;
            try {
                subtext = read_file(sub);
            } catch (const InputError &) {
                throw InputError(
                    std::vector<Diagnostic>{{path, inc[i].Mark().line + 1, inc[i].Mark().column + 1,
                                             "include[" + std::to_string(i) + "]",
                                             "cannot read included file '" + sub + "'"}});
            }
            parse_with_includes(sub, subtext, out, stack, files);
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

Model build(const std::vector<ParsedFile> &files, std::vector<ConfigFile> texts) {
    Loader L;
    Model &m = L.m;
    m.files = std::move(texts);
    const auto &main = files.front();
    const std::string &mf = main.path;

    static const std::vector<std::string> top_keys{
        "name",    "description", "include",    "run",     "country_groups", "regimes",
        "factors", "products",    "facilities", "demands", "lanes",          "events"};
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
                         "store_monthly"})) {
            if (run["trials"])
                if (auto v = L.unsigned_int(mf, run["trials"], "run.trials", 1, 0xFFFFFFFFull))
                    m.run.trials = *v;
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
                static const std::regex re("[0-9]{4}-(0[1-9]|1[0-2])");
                if (auto s = L.string(mf, run["start"], "run.start")) {
                    if (!std::regex_match(*s, re))
                        L.error(mf, run["start"], "run.start",
                                "'" + *s + "' is not a month written YYYY-MM");
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
                            "expected a non-empty list of numbers in (0, 1)");
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
        }
    }
    const int H = m.run.horizon_months;

    // regimes: the main file's if it has them, else the included files' (which must agree).
    {
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
                L.error(src->path, rs, "regimes", "expected a non-empty list of {id, weight}");
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
                                "weight must not be negative");
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
                            "regime weights must sum to a positive number");
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
            L.error(pf.path, cg, "country_groups", "expected a map: group id -> list of countries");
            continue;
        }
        for (const auto &kv : cg) {
            const auto p = "country_groups." + kv.first.Scalar();
            auto id = L.identifier(pf.path, kv.first, p);
            if (!id)
                continue;
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
                L.error(pf.path, kv.second, p, "a group is a plain list of countries");
                continue;
            }
            L.groups[*id] = {cs->codes.begin(), cs->codes.end()};
        }
    }

    // factors
    for (const auto &it : section(L, files, "factors")) {
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
    const auto product_items = section(L, files, "products");
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
            if (auto s = L.string(it.file, it.node["name"], it.path + ".name"))
                p.name = *s;
        if (it.node["unit"])
            if (auto s = L.string(it.file, it.node["unit"], it.path + ".unit"))
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
            const auto kp = rp + "." + kv.first.Scalar();
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
                L.error(it.file, kv.first, kp, "input listed twice");
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
                            "recipe cycle: " + cyc);
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
    const auto facility_items = section(L, files, "facilities");
    for (const auto &it : facility_items) {
        if (!L.check_map(it.file, it.node, it.path,
                         {"id", "product", "country", "capacity", "availability", "start_month",
                          "ramp_months", "outages"}))
            continue;
        auto id = unique_id(L, it, facility_index, "facility");
        auto prod = L.product_ref(it.file, it.node["product"], it.path + ".product");
        auto ctry = L.string(it.file, it.node["country"], it.path + ".country");
        if (ctry && !L.valid_country_code(*ctry)) {
            L.error(it.file, it.node["country"], it.path + ".country",
                    "'" + *ctry + "' is not a country code (upper-case, e.g. CN, US)");
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
    const auto demand_items = section(L, files, "demands");
    std::vector<const Item *> demand_item_of;
    for (const auto &it : demand_items) {
        if (!L.check_map(it.file, it.node, it.path,
                         {"id", "product", "country", "quantity", "growth", "tier", "stockpile"}))
            continue;
        auto id = unique_id(L, it, demand_index, "demand");
        auto prod = L.product_ref(it.file, it.node["product"], it.path + ".product");
        auto ctry = L.string(it.file, it.node["country"], it.path + ".country");
        if (ctry && !L.valid_country_code(*ctry)) {
            L.error(it.file, it.node["country"], it.path + ".country",
                    "'" + *ctry + "' is not a country code (upper-case, e.g. CN, US)");
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
    for (const auto &it : section(L, files, "events")) {
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
            L.error(it.file, it.node["type"], it.path + ".type",
                    "unknown event type '" + *type +
                        "': expected export_control or capacity_shock");
            continue;
        }
        if (!L.check_map(it.file, it.node, it.path, keys))
            continue;
        auto id = unique_id(L, it, event_index, "event");
        bool ok = static_cast<bool>(id);
        if (id && lane_index.count(*id)) {
            L.error(it.file, it.node["id"], it.path + ".id",
                    "id '" + *id + "' is already a lane id");
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
                L.error(it.file, on, op,
                        "give exactly one onset form: {probability, month}, {hazard_per_year} or "
                        "{active_at_start: true}");
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
                                "onset month is never inside the horizon (>= " + std::to_string(H) +
                                    " months)");
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
                                "expected a non-empty list of facility ids");
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
                                std::vector<std::string> known;
                                for (const auto &[k, _] : facility_index)
                                    known.push_back(k);
                                std::string msg = "unknown facility '" + *s + "'";
                                const auto near = nearest(*s, known);
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
                    L.error(it.file, t, tp, "give at least one of facilities, countries, products");
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
        for (std::size_t f = 0; f < m.facilities.size(); ++f) {
            const auto &fac = m.facilities[f];
            bool match = true;
            if (st.has_fac)
                match = match && std::find(st.facilities.begin(), st.facilities.end(),
                                           static_cast<int>(f)) != st.facilities.end();
            if (st.has_ctry)
                match = match && cmask[static_cast<std::size_t>(fac.country)];
            if (st.has_prod)
                match = match && st.products[static_cast<std::size_t>(fac.product)];
            if (match)
                ev.facilities.push_back(static_cast<int>(f));
        }
    }

    if (!L.diags.empty())
        throw InputError(std::move(L.diags));

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
    return m;
}

} // namespace

Model load_model_from_string(const std::string &text, const std::string &path) {
    std::vector<ParsedFile> files;
    std::vector<std::string> stack;
    std::vector<ConfigFile> texts;
    parse_with_includes(path, text, files, stack, texts);
    return build(files, std::move(texts));
}

Model load_model(const std::string &path) {
    return load_model_from_string(read_file(path), path);
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
        for (const auto &f : m.facilities)
            if (&m.products[static_cast<std::size_t>(f.product)] == &p) {
                auto &e = by_country[m.countries[static_cast<std::size_t>(f.country)]];
                e.first += 1;
                double mu = f.capacity.mean();
                if (std::isnan(mu)) {
                    // Composite (factors, products, regimes): estimate the mean by sampling.
                    std::vector<double> fac(m.factors.size());
                    double acc = 0;
                    constexpr int n = 4000;
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
    os << "countries (" << m.countries.size() << "):";
    for (const auto &c : m.countries)
        os << " " << c;
    os << "\n";
    return os.str();
}

} // namespace chokepoint
