// Progress reports of a running study (progress.hpp).
#include "study/progress.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <ostream>
#include <stdexcept>

namespace chokepoint {

namespace {

constexpr int kBarCells = 30;
constexpr double kBarInterval = 0.2; // seconds between two redraws of the bar

/// 1,234,567
std::string grouped(std::uint64_t n) {
    std::string digits = std::to_string(n);
    std::string out;
    const std::size_t len = digits.size();
    for (std::size_t i = 0; i < len; ++i) {
        if (i > 0 && (len - i) % 3 == 0)
            out += ',';
        out += digits[i];
    }
    return out;
}

/// floor(1000 done / total), clamped to 1000; 1000 when total is 0.
std::uint64_t permille(std::uint64_t done, std::uint64_t total) {
    if (total == 0 || done >= total)
        return 1000;
    if (total <= std::numeric_limits<std::uint64_t>::max() / 1000)
        return done * 1000 / total; // done < total, so done * 1000 fits
    return static_cast<std::uint64_t>(
        std::floor(static_cast<long double>(done) * 1000 / static_cast<long double>(total)));
}

/// "45.2" from 452 permille.
std::string percent_text(std::uint64_t pm) {
    return std::to_string(pm / 10) + "." + std::to_string(pm % 10);
}

std::string fixed(double x, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
    return buf;
}

/// Rate as a whole number with thousands separators (bar) or without (text).
std::string rate_text(double rate, bool group) {
    if (!std::isfinite(rate) || rate < 0)
        return "0";
    if (rate >= 1e18)
        return fixed(rate, 0);
    const auto r = static_cast<std::uint64_t>(std::llround(rate));
    return group ? grouped(r) : std::to_string(r);
}

/// ETA of the bar: "0:09", "12:34", "1:02:03"; "--:--" when unknown.
std::string eta_clock(double eta) {
    if (!std::isfinite(eta) || eta < 0 || eta >= 1e8)
        return "--:--";
    const long long s = std::llround(eta);
    const long long h = s / 3600, m = (s / 60) % 60, sec = s % 60;
    char buf[64];
    if (h > 0)
        std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", h, m, sec);
    else
        std::snprintf(buf, sizeof buf, "%lld:%02lld", m, sec);
    return buf;
}

/// ETA of a text line: "9 s", "2 min 5 s", "1 h 2 min"; "unknown".
std::string eta_words(double eta) {
    if (!std::isfinite(eta) || eta < 0 || eta >= 1e12)
        return "unknown";
    const long long s = std::llround(eta);
    if (s < 60)
        return std::to_string(s) + " s";
    if (s < 3600)
        return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
    return std::to_string(s / 3600) + " h " + std::to_string((s / 60) % 60) + " min";
}

std::string threads_text(int n) {
    return std::to_string(n) + (n == 1 ? " thread" : " threads");
}

} // namespace

LogFormat parse_log_format(const std::string &name) {
    if (name == "auto")
        return LogFormat::Auto;
    if (name == "bar")
        return LogFormat::Bar;
    if (name == "text")
        return LogFormat::Text;
    if (name == "json")
        return LogFormat::Json;
    throw std::invalid_argument("unknown log format '" + name +
                                "' (allowed: auto, bar, text, json)");
}

std::string json_string(const std::string &s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    for (const char c : s) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                static constexpr char kHex[] = "0123456789abcdef";
                out += "\\u00";
                out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xf];
                out += kHex[static_cast<unsigned char>(c) & 0xf];
            } else {
                out += c;
            }
        }
    }
    out += '"';
    return out;
}

std::string json_number(double x) {
    if (!std::isfinite(x))
        return "null";
    char buf[64];
    const auto [p, ec] = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::general, 6);
    if (ec != std::errc())
        return "null";
    return std::string(buf, p);
}

double steady_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

double system_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Progress::Progress(std::ostream &out, LogFormat fmt, bool out_is_tty, std::uint64_t trials_total,
                   std::uint64_t trials_already_done, double interval_seconds,
                   std::function<double()> clock, std::function<double()> wall_clock)
    : out_(out),
      fmt_(fmt == LogFormat::Auto ? (out_is_tty ? LogFormat::Bar : LogFormat::Json) : fmt),
      total_(trials_total), already_(trials_already_done),
      interval_(std::isfinite(interval_seconds) ? std::max(0.0, interval_seconds) : 0.0),
      clock_(clock ? std::move(clock) : std::function<double()>(steady_seconds)),
      wall_clock_(wall_clock ? std::move(wall_clock) : std::function<double()>(system_seconds)),
      start_(clock_()), last_line_(start_), last_done_(trials_already_done) {}

Progress::~Progress() {
    try {
        if (bar_width_ > 0) {
            out_ << '\n';
            out_.flush();
        }
    } catch (...) {
    }
}

Progress::Snapshot Progress::snapshot(std::uint64_t done, double now) const {
    Snapshot s{};
    s.done = done;
    s.total = total_;
    s.elapsed = std::max(0.0, now - start_);
    const std::uint64_t here = done > already_ ? done - already_ : 0;
    s.fraction =
        total_ == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
    s.rate = s.elapsed > 0 ? static_cast<double>(here) / s.elapsed
                           : std::numeric_limits<double>::quiet_NaN();
    const std::uint64_t remaining = total_ > done ? total_ - done : 0;
    if (remaining == 0)
        s.eta = 0;
    else if (s.rate > 0)
        s.eta = static_cast<double>(remaining) / s.rate;
    else
        s.eta = std::numeric_limits<double>::quiet_NaN();
    return s;
}

std::string Progress::time_field() const {
    const double t = wall_clock_();
    std::time_t secs = std::isfinite(t) ? static_cast<std::time_t>(std::floor(t)) : 0;
    std::tm tm{};
    char buf[64] = "1970-01-01T00:00:00Z";
    if (gmtime_r(&secs, &tm))
        std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string Progress::bar_line(const Snapshot &s) const {
    const std::uint64_t pm = permille(s.done, s.total);
    const auto filled = static_cast<int>(pm * kBarCells / 1000);
    std::string line = "[";
    line.append(static_cast<std::size_t>(filled), '#');
    line.append(static_cast<std::size_t>(kBarCells - filled), '.');
    line += "] ";
    const std::string pct = percent_text(pm);
    line.append(pct.size() < 5 ? 5 - pct.size() : 0, ' '); // " 45.2", "100.0"
    line += pct + "%  " + grouped(s.done) + "/" + grouped(s.total) + " trials  " +
            rate_text(s.rate, true) + " trials/s  ETA " + eta_clock(s.eta);
    return line;
}

void Progress::draw_bar(const std::string &line) {
    std::string text = "\r" + line;
    if (line.size() < bar_width_)
        text.append(bar_width_ - line.size(), ' '); // wipe the rest of a longer previous line
    bar_width_ = std::max(bar_width_, line.size());
    out_ << text;
    out_.flush();
}

void Progress::clear_bar() {
    if (bar_width_ == 0)
        return;
    out_ << '\r' << std::string(bar_width_, ' ') << '\r';
    bar_width_ = 0;
}

void Progress::update(std::uint64_t trials_done) {
    last_done_ = trials_done;
    const double now = clock_();
    const double interval = fmt_ == LogFormat::Bar ? kBarInterval : interval_;
    if (!(now - last_line_ >= interval))
        return;
    last_line_ = now;
    const Snapshot s = snapshot(trials_done, now);
    switch (fmt_) {
    case LogFormat::Bar:
        draw_bar(bar_line(s));
        break;
    case LogFormat::Text:
        out_ << "chokepoint: " + std::to_string(s.done) + "/" + std::to_string(s.total) +
                    " trials (" + percent_text(permille(s.done, s.total)) + "%), " +
                    rate_text(s.rate, false) + " trials/s, ETA " + eta_words(s.eta) + "\n";
        out_.flush();
        break;
    default:
        out_ << "{\"event\":\"progress\",\"time\":\"" + time_field() +
                    "\",\"trials_done\":" + std::to_string(s.done) +
                    ",\"trials_total\":" + std::to_string(s.total) +
                    ",\"fraction\":" + json_number(s.fraction) +
                    ",\"elapsed_s\":" + json_number(s.elapsed) +
                    ",\"rate_per_s\":" + json_number(s.rate) + ",\"eta_s\":" + json_number(s.eta) +
                    "}\n";
        out_.flush();
    }
}

void Progress::event(const std::string &name,
                     const std::vector<std::pair<std::string, std::string>> &fields) {
    if (fmt_ == LogFormat::Json) {
        std::string line = "{\"event\":" + json_string(name) + ",\"time\":\"" + time_field() + "\"";
        for (const auto &[k, v] : fields) {
            line += ',';
            line += json_string(k);
            line += ':';
            line += v;
        }
        out_ << line + "}\n";
        out_.flush();
        return;
    }
    const bool had_bar = bar_width_ > 0;
    clear_bar();
    std::string line = "chokepoint: " + name;
    for (std::size_t i = 0; i < fields.size(); ++i)
        line += (i == 0 ? ": " : ", ") + fields[i].first + "=" + fields[i].second;
    out_ << line + "\n";
    if (had_bar)
        draw_bar(bar_line(snapshot(last_done_, clock_())));
    out_.flush();
}

namespace {
std::string rungs_json(const RungCounts &r) {
    if (r.total() == 0)
        return "";
    std::string s = ",\"lp_rungs\":{";
    for (int k = 0; k < kRungs; ++k)
        s += std::string(k ? "," : "") + json_string(rung_name(static_cast<Rung>(k))) + ":" +
             std::to_string(r.solved[static_cast<std::size_t>(k)]);
    return s + ",\"relaxed\":" + std::to_string(r.relaxed) +
           ",\"failed\":" + std::to_string(r.failed) + "}";
}
} // namespace

void Progress::finish(const Final &f) {
    const std::uint64_t here = f.trials_done > already_ ? f.trials_done - already_ : 0;
    const double rate = f.seconds > 0 ? static_cast<double>(here) / f.seconds
                                      : std::numeric_limits<double>::quiet_NaN();
    const std::string status =
        !f.status.empty() ? f.status : (f.complete ? "complete" : "incomplete");
    if (fmt_ == LogFormat::Json) {
        out_ << "{\"event\":\"done\",\"time\":\"" + time_field() +
                    "\",\"status\":" + json_string(status) +
                    ",\"trials_done\":" + std::to_string(f.trials_done) +
                    ",\"trials_total\":" + std::to_string(f.trials_total) +
                    ",\"seconds\":" + json_number(f.seconds) +
                    ",\"rate_per_s\":" + json_number(rate) +
                    ",\"threads\":" + std::to_string(f.threads) +
                    ",\"output\":" + json_string(f.output) + rungs_json(lp_rungs_) + "}\n";
        out_.flush();
        return;
    }
    if (fmt_ == LogFormat::Bar && bar_width_ > 0) {
        Snapshot s = snapshot(f.trials_done, clock_());
        s.total = f.trials_total;
        draw_bar(bar_line(s));
        out_ << '\n';
        bar_width_ = 0;
    }
    std::string line = "chokepoint: ";
    if (f.complete)
        line += std::to_string(f.trials_done);
    else
        line +=
            status + ": " + std::to_string(f.trials_done) + "/" + std::to_string(f.trials_total);
    line += " trials in " + fixed(std::isfinite(f.seconds) ? f.seconds : 0.0, 1) + " s (" +
            (std::isfinite(rate) ? rate_text(rate, false) : std::string("n/a")) + " trials/s, " +
            threads_text(f.threads);
    if (lp_rungs_.total() > 0) {
        line += "; LPs by solver rung:";
        for (int k = 0; k < kRungs; ++k)
            line += std::string(k ? ", " : " ") + rung_name(static_cast<Rung>(k)) + " " +
                    std::to_string(lp_rungs_.solved[static_cast<std::size_t>(k)]);
        if (lp_rungs_.relaxed)
            line += ", relaxed " + std::to_string(lp_rungs_.relaxed);
        if (lp_rungs_.failed)
            line += ", failed " + std::to_string(lp_rungs_.failed);
    }
    line += ")";
    if (!f.output.empty())
        line += " -> " + f.output;
    out_ << line + "\n";
    out_.flush();
}

} // namespace chokepoint
