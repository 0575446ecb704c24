#include "cli/diagnostics.hpp"

#include "config/config.hpp"
#include "study/progress.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <sstream>

namespace chokepoint {

namespace {
/// A number for JSON that reads back as the same double (17 significant digits); null if not
/// finite.
std::string exact(double x) {
    if (!std::isfinite(x))
        return "null";
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", x);
    return buf;
}

std::string fixed3(double x) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.3f", x);
    return buf;
}

/// "YYYY-MM" of month m after run.start, or "" when the run has no start.
std::string month_label(const std::string &start, int m) {
    int y = 0, mo = 0;
    if (start.size() != 7 || std::sscanf(start.c_str(), "%d-%d", &y, &mo) != 2)
        return "";
    const int k = (mo - 1) + m;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02d", y + k / 12, k % 12 + 1);
    return buf;
}

template <class F> std::string join(const std::vector<int> &v, F &&name) {
    std::string s;
    for (int i : v)
        s += (s.empty() ? "" : ", ") + name(i);
    return s;
}
} // namespace

void write_trial_report(std::ostream &os, const OneTrial &t, std::uint64_t trial,
                        const TrialReportOptions &opt) {
    const Model &m = *t.model;
    const TrialTrace &tr = t.trace;
    const BlockResult &r = t.row;
    const auto D = m.demands.size(), F = m.facilities.size(), E = m.events.size();
    std::vector<char> show(D, opt.demands.empty() ? 1 : 0);
    for (const auto &id : opt.demands) {
        bool found = false;
        for (std::size_t d = 0; d < D; ++d)
            if (m.demands[d].id == id)
                show[d] = found = true;
        if (!found)
            throw InputError("trial: no demand '" + id + "' in scenario '" + t.scenario + "'");
    }
    auto node = [&](int n) { return m.node_names[static_cast<std::size_t>(n)]; };
    auto res = [&](int i) { return m.restrictions[static_cast<std::size_t>(i)].id; };
    // Facilities whose (product, country) node binds.
    auto binding_facilities = [&](const TrialTrace::Month &mo) {
        std::vector<int> out;
        for (std::size_t f = 0; f < F; ++f)
            for (int n : mo.binding_nodes)
                if (m.facility_node[f] == n)
                    out.push_back(static_cast<int>(f));
        return out;
    };
    auto fac = [&](int f) { return m.facilities[static_cast<std::size_t>(f)].id; };
    const auto &rungs = r.acc.lp_rungs;

    if (opt.json) {
        os << "{\"trial\": " << trial << ", \"seed\": " << m.run.seed
           << ", \"scenario\": " << json_string(t.scenario)
           << ", \"config\": " << json_string(m.files.empty() ? "" : m.files[0].path)
           << ", \"regime\": "
           << json_string(m.regimes.empty() ? ""
                                            : m.regimes[static_cast<std::size_t>(tr.regime)].id)
           << ",\n \"inputs\": {";
        for (std::size_t i = 0; i < tr.input_names.size(); ++i)
            os << (i ? ", " : "") << json_string(tr.input_names[i]) << ": "
               << exact(tr.input_values[i]);
        os << "},\n \"events\": [";
        for (std::size_t e = 0; e < E; ++e) {
            os << (e ? ", " : "") << "{\"id\": " << json_string(m.events[e].id)
               << ", \"fired\": " << (tr.event_onset[e] >= 0 ? "true" : "false")
               << ", \"onset_month\": " << tr.event_onset[e]
               << ", \"end_month\": " << tr.event_end[e];
            if (m.events[e].type == EventType::ExportControl)
                os << ", \"leakage\": " << exact(tr.event_leakage[e]);
            os << "}";
        }
        os << "],\n \"results\": {";
        bool first = true;
        for (std::size_t d = 0; d < D; ++d) {
            if (!show[d])
                continue;
            os << (first ? "" : ", ") << json_string(m.demands[d].id)
               << ": {\"shortfall\": " << exact(r.shortfall[d])
               << ", \"demand_total\": " << exact(r.demand_total[d])
               << ", \"shortfall_share\": " << exact(r.shortfall_share[d])
               << ", \"short_months\": " << r.short_months[d]
               << ", \"longest_run\": " << r.longest_run[d]
               << ", \"stockpile_min\": " << exact(r.stockpile_min[d])
               << ", \"stockout_month\": " << r.stockout_month[d] << "}";
            first = false;
        }
        os << "},\n \"facility_binding_months\": {";
        for (std::size_t f = 0; f < F; ++f)
            os << (f ? ", " : "") << json_string(m.facilities[f].id) << ": "
               << r.facility_binding_months[f];
        os << "},\n \"lp_rungs\": {";
        for (int k = 0; k < kRungs; ++k)
            os << (k ? ", " : "") << json_string(rung_name(static_cast<Rung>(k))) << ": "
               << rungs.solved[static_cast<std::size_t>(k)];
        os << ", \"relaxed\": " << rungs.relaxed << "},\n \"months\": [";
        for (std::size_t mo = 0; mo < tr.months.size(); ++mo) {
            const auto &x = tr.months[mo];
            os << (mo ? ",\n  " : "\n  ") << "{\"month\": " << mo
               << ", \"label\": " << json_string(month_label(m.run.start, static_cast<int>(mo)))
               << ", \"demands\": {";
            first = true;
            for (std::size_t d = 0; d < D; ++d) {
                if (!show[d])
                    continue;
                os << (first ? "" : ", ") << json_string(m.demands[d].id)
                   << ": {\"want\": " << exact(x.want[d])
                   << ", \"delivered\": " << exact(x.delivered[d])
                   << ", \"drawn\": " << exact(x.drawn[d])
                   << ", \"shortfall\": " << exact(x.shortfall[d])
                   << ", \"stockpile\": " << exact(x.level[d]) << "}";
                first = false;
            }
            os << "}, \"active_restrictions\": [";
            first = true;
            for (std::size_t i = 0; i < x.restriction_active.size(); ++i)
                if (x.restriction_active[i]) {
                    os << (first ? "" : ", ") << json_string(m.restrictions[i].id);
                    first = false;
                }
            auto list = [&](const std::vector<int> &v, auto &&name) {
                std::string s;
                for (int i : v)
                    s += (s.empty() ? "" : ", ") + json_string(name(i));
                return "[" + s + "]";
            };
            os << "], \"binding_nodes\": " << list(x.binding_nodes, node)
               << ", \"binding_restrictions\": " << list(x.binding_restrictions, res)
               << ", \"binding_facilities\": " << list(binding_facilities(x), fac) << "}";
        }
        os << "\n ]}\n";
        return;
    }

    os << "trial " << trial << " of " << (m.files.empty() ? m.name : m.files[0].path) << " (seed "
       << m.run.seed << ", scenario " << t.scenario << ")\n";
    if (m.regimes.size() > 1)
        os << "regime: " << m.regimes[static_cast<std::size_t>(tr.regime)].id << "\n";
    os << "\ninputs drawn:\n";
    std::size_t w = 0;
    for (const auto &n : tr.input_names)
        w = std::max(w, n.size());
    for (std::size_t i = 0; i < tr.input_names.size(); ++i)
        os << "  " << std::left << std::setw(static_cast<int>(w)) << tr.input_names[i] << "  "
           << std::setprecision(6) << tr.input_values[i] << "\n";
    if (E > 0) {
        os << "\nevents:\n";
        for (std::size_t e = 0; e < E; ++e) {
            os << "  " << m.events[e].id << ": ";
            if (tr.event_onset[e] < 0) {
                os << "did not fire\n";
                continue;
            }
            os << "active months " << tr.event_onset[e] << "-" << tr.event_end[e] - 1;
            const auto a = month_label(m.run.start, tr.event_onset[e]);
            if (!a.empty())
                os << " (" << a << " to " << month_label(m.run.start, tr.event_end[e] - 1) << ")";
            if (m.events[e].type == EventType::ExportControl)
                os << ", leakage " << std::setprecision(4) << tr.event_leakage[e];
            os << "\n";
        }
    }
    os << "\nresults over " << tr.months.size() << " months (shortfall after stockpile draws):\n";
    os << "  " << std::left << std::setw(24) << "demand" << std::right << std::setw(14)
       << "shortfall" << std::setw(9) << "share" << std::setw(8) << "months" << std::setw(9)
       << "longest" << std::setw(14) << "stock min" << std::setw(10) << "stockout"
       << "\n";
    for (std::size_t d = 0; d < D; ++d) {
        if (!show[d])
            continue;
        const auto &unit = m.products[static_cast<std::size_t>(m.demands[d].product)].unit;
        os << "  " << std::left << std::setw(24) << m.demands[d].id << std::right << std::setw(12)
           << fixed3(r.shortfall[d]) << " " << std::left << std::setw(2) << unit << std::right
           << std::setw(8) << fixed3(100 * r.shortfall_share[d]) << "%" << std::setw(8)
           << r.short_months[d] << std::setw(9) << r.longest_run[d] << std::setw(14)
           << (m.demands[d].has_stockpile ? fixed3(r.stockpile_min[d]) : std::string("-"))
           << std::setw(10)
           << (r.stockout_month[d] >= 0 ? std::to_string(r.stockout_month[d]) : std::string("-"))
           << "\n";
    }
    os << "\nmonth by month (demands not served in full; quantities in the product's unit):\n";
    for (std::size_t mo = 0; mo < tr.months.size(); ++mo) {
        const auto &x = tr.months[mo];
        const auto label = month_label(m.run.start, static_cast<int>(mo));
        os << "month " << mo << (label.empty() ? "" : " (" + label + ")") << ":";
        std::vector<int> act;
        for (std::size_t i = 0; i < x.restriction_active.size(); ++i)
            if (x.restriction_active[i])
                act.push_back(static_cast<int>(i));
        bool any = false;
        std::ostringstream rows;
        for (std::size_t d = 0; d < D; ++d) {
            if (!show[d] || (x.delivered[d] >= x.want[d] && x.drawn[d] == 0 && x.shortfall[d] == 0))
                continue;
            any = true;
            rows << "    " << std::left << std::setw(24) << m.demands[d].id << std::right
                 << " want " << fixed3(x.want[d]) << ", delivered " << fixed3(x.delivered[d])
                 << ", drawn " << fixed3(x.drawn[d]) << ", short " << fixed3(x.shortfall[d]);
            if (m.demands[d].has_stockpile)
                rows << ", stockpile " << fixed3(x.level[d]);
            rows << "\n";
        }
        if (any)
            os << "\n" << rows.str();
        else
            os << " every demand served in full\n";
        if (!act.empty())
            os << "    in force: " << join(act, res) << "\n";
        if (!x.binding_nodes.empty() || !x.binding_restrictions.empty()) {
            os << "    binding:";
            if (!x.binding_nodes.empty())
                os << " nodes " << join(x.binding_nodes, node) << " (facilities "
                   << join(binding_facilities(x), fac) << ")";
            if (!x.binding_restrictions.empty())
                os << (x.binding_nodes.empty() ? "" : ";") << " restrictions "
                   << join(x.binding_restrictions, res);
            os << "\n";
        }
    }
    os << "\nallocation LPs by solver rung:";
    for (int k = 0; k < kRungs; ++k)
        os << " " << rung_name(static_cast<Rung>(k)) << " "
           << rungs.solved[static_cast<std::size_t>(k)];
    os << " (relaxed " << rungs.relaxed << ")\n";
}

bool write_lp_replay(std::ostream &os, const std::string &path, bool values) {
    require_regular_file(path, "linear program file"); // a FIFO or a device would be read for ever
    std::ifstream in(path);
    if (!in)
        throw InputError("lp: cannot open '" + path + "'");
    std::stringstream text;
    text << in.rdbuf();
    auto parse = [&] {
        std::istringstream is(text.str());
        try {
            return LinearProgram::read_lp(is);
        } catch (const std::runtime_error &e) {
            throw InputError("lp: '" + path + "': " + e.what());
        }
    };
    using Status = LinearProgram::Status;
    auto status_name = [](Status s) { return LinearProgram::status_name(s); };
    auto line = [&](const std::string &what, LinearProgram &lp, Status st) {
        const auto &c = lp.certificate();
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "%-14s %-15s objective %-24.17g certificate: primal %.2g, dual %.2g, gap "
                      "%.2g",
                      what.c_str(), status_name(st), lp.objective(), c.primal, c.dual, c.gap);
        os << buf;
        if (st == Status::Optimal && what == "ladder")
            os << " (answered by " << rung_name(lp.rung()) << ")";
        else if (st != Status::Optimal)
            os << " [" << lp.ladder_log() << "]";
        os << "\n";
    };
    LinearProgram ladder = parse();
    os << path << ": " << ladder.columns() << " variables, " << ladder.rows() << " rows\n";
    const Status st = ladder.solve();
    line("ladder", ladder, st);
    for (const Rung r : {Rung::Cold, Rung::Bland, Rung::Library}) {
        LinearProgram one = parse();
        one.set_first_rung(r);
        const Status s1 = one.solve();
        line(std::string(rung_name(r)) + " first", one, s1);
    }
    if (values && st == Status::Optimal) {
        os << "non-zero values of the ladder's answer:\n";
        for (int j = 0; j < ladder.columns(); ++j)
            if (ladder.value(j) != 0)
                os << "  x" << j << " = " << exact(ladder.value(j)) << "\n";
        for (int i = 0; i < ladder.rows(); ++i)
            if (ladder.dual(i) != 0)
                os << "  dual r" << i << " = " << exact(ladder.dual(i)) << "\n";
    }
    return st == Status::Optimal;
}

} // namespace chokepoint
