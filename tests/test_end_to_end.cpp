// Whole runs (run.hpp, simulate.hpp): configs whose EUD, LOSE and P(shortfall) have closed forms;
// reproducibility (thread count, block order, unrelated quantities); the results file's atomic
// write and its refusal to overwrite.
//
// Statistical checks: |estimate - closed form| <= 4 standard errors, the SE being Moments::se()
// of the run (sample sd / sqrt(trials)). A false alarm at 4 SE has probability 6e-5 per check;
// the draws are fixed by the seed, so each check is deterministic.
#include "config/config.hpp"
#include "engine/chain_reuse.hpp"
#include "engine/simulate.hpp"
#include "io/output.hpp"
#include "stored_chunks.hpp"
#include "study/comm.hpp"
#include "study/run.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <H5Cpp.h>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <unistd.h>
#include <vector>

using namespace chokepoint;
using chokepoint::test::slurp;
using chokepoint::test::TempDir;
namespace fs = std::filesystem;

namespace {

void check_4se(const char *what, const Moments &m, double truth) {
    INFO(what << ": estimate " << m.mean() << " +- " << m.se() << " (n " << m.count()
              << "), closed form " << truth
              << ", |diff| / SE = " << std::abs(m.mean() - truth) / m.se());
    CHECK(m.se() > 0);
    CHECK(std::abs(m.mean() - truth) <= 4 * m.se());
}

/// One facility (capacity `capacity`, 120 t/yr = 10 t/month unless stated; more keys in
/// `facility_extra`) serving one demand of 120 t/yr, plus `events` and top-level `extra`.
std::string single(int horizon, int trials, const std::string &capacity, const std::string &events,
                   const std::string &extra = "", const std::string &facility_extra = "") {
    return "run: {trials: " + std::to_string(trials) +
           ", horizon_months: " + std::to_string(horizon) + ", seed: 2718, block_size: 500}\n" +
           extra +
           "products: [{id: metal}]\n"
           "facilities:\n"
           "  - id: f\n"
           "    product: metal\n"
           "    country: US\n"
           "    capacity: " +
           capacity + "\n" + facility_extra +
           "demands:\n"
           "  - {id: d, product: metal, country: US, quantity: 120}\n" +
           (events.empty() ? "" : "events:\n" + events);
}

struct Expect {
    double p_short, lose, eud;
};

void check_run(const Model &m, const Expect &e) {
    const Accumulators acc = run_in_memory(m, 2);
    REQUIRE(acc.trials() == m.run.trials);
    check_4se("P(short)", acc.any_short[0], e.p_short);
    check_4se("LOSE", acc.short_months[0], e.lose);
    check_4se("EUD", acc.shortfall[0], e.eud);
    CHECK(acc.demand_total[0].mean() == Approx(10.0 * m.run.horizon_months).epsilon(1e-12));
    CHECK(acc.demand_total[0].variance() == Approx(0.0).margin(1e-6));
}

template <class T> std::vector<T> read_dataset(const std::string &file, const std::string &name) {
    H5::H5File f(file, H5F_ACC_RDONLY);
    H5::DataSet ds = f.openDataSet(name);
    const auto n = static_cast<std::size_t>(ds.getSpace().getSimpleExtentNpoints());
    std::vector<T> v(n);
    if constexpr (std::is_same_v<T, double>)
        ds.read(v.data(), H5::PredType::NATIVE_DOUBLE);
    else if constexpr (std::is_same_v<T, float>)
        ds.read(v.data(), H5::PredType::NATIVE_FLOAT);
    else
        ds.read(v.data(), H5::PredType::NATIVE_INT32);
    return v;
}

void require_same(const Moments &a, const Moments &b) {
    REQUIRE(a.count() == b.count());
    REQUIRE(a == b); // exact sums: equal to the last bit
    REQUIRE(a.mean() == b.mean());
    REQUIRE(a.se() == b.se());
}
void require_same(const std::vector<Moments> &a, const std::vector<Moments> &b) {
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i)
        require_same(a[i], b[i]);
}

const std::string kTiny = std::string(CHOKEPOINT_SOURCE_DIR) + "/configs/examples/tiny.yaml";
const std::string kMaterials =
    std::string(CHOKEPOINT_SOURCE_DIR) + "/configs/critical_materials.yaml";

/// The default study with `settings` applied to its baseline and to a copy of each scenario's
/// model (a scenario runs with its own model's run settings).
template <class Settings> Model default_study_with(const Settings &settings) {
    Model m = load_model(kMaterials);
    settings(m);
    for (auto &sc : m.scenarios) {
        auto copy = std::make_shared<Model>(*sc.model);
        settings(*copy);
        sc.model = copy;
    }
    return m;
}

} // namespace

TEST_CASE("capacity shock with onset probability p at month m for d months", "[analytic]") {
    // p = 0.3, month 6, 4 months, whole capacity lost, horizon 24:
    // P(short) = p, LOSE = p d = 1.2 months, EUD = p d 10 t = 12 t.
    const Model m =
        load_model_from_string(single(24, 20000, "120",
                                      "  - {id: s, type: capacity_shock, targets: {facilities: "
                                      "[f]}, onset: {probability: 0.3, month: 6},"
                                      " duration_months: 4, fraction_lost: 1}\n"),
                               "shock.yaml");
    check_run(m, {0.3, 1.2, 12.0});
    // monthly profile: only months 6..9 can be short, each with mean p x 10
    const Accumulators acc = run_in_memory(m, 1);
    for (int mo = 0; mo < 24; ++mo) {
        const auto &mm = acc.monthly[static_cast<std::size_t>(mo)];
        INFO("month " << mo);
        if (mo >= 6 && mo < 10)
            check_4se("monthly mean shortfall", mm, 3.0);
        else
            CHECK(mm.mean() == 0.0);
    }
    check_4se("event fired", acc.event_fired[0], 0.3);
    // the facility binds exactly in the short months
    check_4se("facility binding trial share", acc.fac_trial[0], 0.3);
    check_4se("facility binding month share", acc.fac_months[0], 0.3 * 4 / 24);
}

TEST_CASE("partial capacity shock with a random duration", "[analytic]") {
    // fraction lost 0.4 (4 t/month short), duration 1..5 months (discrete, equal weights; mean 3),
    // at month 20 of 24 so that durations over 4 are cut at the horizon:
    // E[months] = (1 + 2 + 3 + 4 + 4) / 5 = 2.8. p = 0.5.
    const Model m = load_model_from_string(
        single(24, 20000, "120",
               "  - {id: s, type: capacity_shock, targets: {countries: US}, onset: {probability: "
               "0.5, month: 20},"
               " duration_months: {discrete: {values: [1, 2, 3, 4, 5]}}, fraction_lost: 0.4}\n"),
        "partial.yaml");
    check_run(m, {0.5, 0.5 * 2.8, 0.5 * 2.8 * 4.0});
}

TEST_CASE("bernoulli capacity factor: the facility exists in a share p of worlds", "[analytic]") {
    // capacity = 120 x Bernoulli(0.8): with probability 0.2 nothing at all for 12 months:
    // P(short) = 0.2, LOSE = 0.2 x 12 = 2.4, EUD = 0.2 x 120 = 24.
    const Model m = load_model_from_string(
        single(12, 20000, "{product: [120, {bernoulli: {p: 0.8}}]}", ""), "bernoulli.yaml");
    check_run(m, {0.2, 2.4, 24.0});
}

TEST_CASE("shared factor: one draw moves every quantity that uses it", "[analytic]") {
    // Two chains whose capacities are 120 x the same Bernoulli(0.5) factor: their shortfalls
    // coincide trial by trial; a third capacity uses an independent Bernoulli(0.5).
    const Model m = load_model_from_string(R"(
run: {trials: 4000, horizon_months: 12, seed: 11}
factors:
  - {id: up, dist: {bernoulli: {p: 0.5}}}
products: [{id: a}, {id: b}, {id: c}]
facilities:
  - {id: fa, product: a, country: US, capacity: {product: [120, {factor: up}]}}
  - {id: fb, product: b, country: US, capacity: {product: [120, {factor: up}]}}
  - {id: fc, product: c, country: US, capacity: {product: [120, {bernoulli: {p: 0.5}}]}}
demands:
  - {id: da, product: a, country: US, quantity: 120}
  - {id: db, product: b, country: US, quantity: 120}
  - {id: dc, product: c, country: US, quantity: 120}
)",
                                           "factor.yaml");
    Simulator sim(m);
    BlockResult r;
    sim.run_block(0, 4000, r);
    int both = 0, a_short = 0, ac = 0;
    for (std::size_t t = 0; t < 4000; ++t) {
        REQUIRE(r.shortfall[t * 3] == r.shortfall[t * 3 + 1]);
        a_short += r.shortfall[t * 3] > 0;
        both += r.shortfall[t * 3] > 0 && r.shortfall[t * 3 + 1] > 0;
        ac += r.shortfall[t * 3] > 0 && r.shortfall[t * 3 + 2] > 0;
    }
    // P(a short) = 0.5; P(a and c short) = 0.25 (independent): binomial SE sqrt(p(1-p)/n)
    CHECK(std::abs(a_short / 4000.0 - 0.5) <= 4 * std::sqrt(0.25 / 4000));
    CHECK(std::abs(ac / 4000.0 - 0.25) <= 4 * std::sqrt(0.25 * 0.75 / 4000));
    CHECK(both == a_short);
}

TEST_CASE("hazard onset: P(onset within H months) = 1 - exp(-h H / 12)", "[analytic]") {
    // h = 0.5 per year, H = 24 months, a 6-month total outage: onset month m = floor(T), T
    // exponential with rate h/12 per month: P(m) = exp(-h m / 12) - exp(-h (m + 1) / 12);
    // LOSE = sum_m P(m) min(6, H - m) (cut at the horizon), EUD = 10 LOSE.
    const double h = 0.5;
    const int H = 24;
    const Model m =
        load_model_from_string(single(H, 20000, "120",
                                      "  - {id: s, type: capacity_shock, targets: {facilities: "
                                      "[f]}, onset: {hazard_per_year: 0.5},"
                                      " duration_months: 6}\n"),
                               "hazard.yaml");
    double lose = 0;
    for (int mo = 0; mo < H; ++mo)
        lose += (std::exp(-h * mo / 12) - std::exp(-h * (mo + 1) / 12)) * std::min(6, H - mo);
    const double p = 1 - std::exp(-h * H / 12.0);
    check_run(m, {p, lose, 10 * lose});
    const Accumulators acc = run_in_memory(m, 2);
    check_4se("event fired", acc.event_fired[0], p);
}

TEST_CASE("random outages: Poisson arrivals per year", "[analytic]") {
    // rate r = 2 per year, 1-month total outages, H = 12: month m is short iff an arrival falls in
    // [m, m + 1): probability 1 - exp(-r / 12). LOSE = H (1 - exp(-r/12)); P(short) = 1 - exp(-r
    // H/12).
    const double r = 2.0;
    const Model m = load_model_from_string(
        single(12, 20000, "120", "", "",
               "    outages: {rate_per_year: 2, duration_months: 1, fraction_lost: 1}\n"),
        "outages.yaml");
    const double lose = 12 * (1 - std::exp(-r / 12));
    check_run(m, {1 - std::exp(-r), lose, 10 * lose});
}

TEST_CASE("leaky export control: shortfall is (1 - leakage) of the blocked flow", "[analytic]") {
    // CN makes 10 t/month for a US demand of 10 t/month. Control CN -> US with probability 0.4,
    // onset month floor(U(0, 12)), 3 months, leakage 0.25, horizon 12. Months short per firing:
    // E[min(3, 12 - m)] = (9 x 3 + 3 + 2 + 1) / 12 = 2.75. LOSE = 0.4 x 2.75 = 1.1,
    // EUD = LOSE x 10 x 0.75 = 8.25, P(short) = 0.4.
    const Model m = load_model_from_string(R"(
run: {trials: 20000, horizon_months: 12, seed: 31, block_size: 1000}
products: [{id: metal}]
facilities:
  - {id: f, product: metal, country: CN, capacity: 120}
demands:
  - {id: d, product: metal, country: US, quantity: 120}
events:
  - id: ban
    type: export_control
    exporters: CN
    importers: [US]
    onset: {probability: 0.4, month: {uniform: {min: 0, max: 12}}}
    duration_months: 3
    leakage: 0.25
)",
                                           "ban.yaml");
    check_run(m, {0.4, 1.1, 8.25});
    const Accumulators acc = run_in_memory(m, 2);
    check_4se("restriction binding trial share", acc.res_trial[0], 0.4);
}

TEST_CASE("regimes: per-regime probabilities mix with the regime weights", "[analytic]") {
    // calm (0.7): p = 0.1; war (0.3): p = 0.6. P(short) = 0.07 + 0.18 = 0.25; 2-month total shock
    // at month 0: LOSE = 0.5, EUD = 5.
    const Model m = load_model_from_string(
        single(12, 20000, "120",
               "  - {id: s, type: capacity_shock, targets: {facilities: [f]},"
               " onset: {probability: {by_regime: {calm: 0.1, war: 0.6}}, month: 0}, "
               "duration_months: 2}\n",
               "regimes: [{id: calm, weight: 0.7}, {id: war, weight: 0.3}]\n"),
        "regimes.yaml");
    check_run(m, {0.25, 0.5, 5.0});
    const Accumulators acc = run_in_memory(m, 2);
    Moments war; // the regime indicator, rebuilt from the counts
    for (std::uint64_t t = 0; t < acc.trials(); ++t)
        war.add(t < acc.regime_count[1] ? 1.0 : 0.0);
    check_4se("regime share (war)", war, 0.3);
    CHECK(acc.regime_count[0] + acc.regime_count[1] == acc.trials());
}

TEST_CASE("deterministic worlds: growth, start month and ramp", "[analytic]") {
    SECTION("growth 10% a year: year 2 wants 11 t/month against 10") {
        const Model m = load_model_from_string(
            "run: {trials: 10, horizon_months: 24}\nproducts: [{id: metal}]\nfacilities:\n"
            "  - {id: f, product: metal, country: US, capacity: 120}\ndemands:\n"
            "  - {id: d, product: metal, country: US, quantity: 120, growth: 0.1}\n",
            "growth.yaml");
        const Accumulators acc = run_in_memory(m, 1);
        CHECK(acc.shortfall[0].mean() == Approx(12.0).epsilon(1e-9));
        CHECK(acc.short_months[0].mean() == 12.0);
        CHECK(acc.demand_total[0].mean() == Approx(120.0 + 132.0).epsilon(1e-12));
    }
    SECTION("a plant starting at month 6 with a 4-month ramp") {
        // months 0-5: nothing (10 short each); month 6: 1/4, 7: 2/4, 8: 3/4 of 10 t; then full.
        // shortfall = 60 + 7.5 + 5 + 2.5 = 75 over 9 months.
        const Model m = load_model_from_string(
            "run: {trials: 10, horizon_months: 12}\nproducts: [{id: metal}]\nfacilities:\n"
            "  - {id: f, product: metal, country: US, capacity: 120, start_month: 6, ramp_months: "
            "4}\n"
            "demands:\n  - {id: d, product: metal, country: US, quantity: 120}\n",
            "ramp.yaml");
        const Accumulators acc = run_in_memory(m, 1);
        CHECK(acc.shortfall[0].mean() == Approx(75.0).epsilon(1e-9));
        CHECK(acc.short_months[0].mean() == 9.0);
        CHECK(acc.monthly[6].mean() == Approx(7.5).epsilon(1e-9));
        CHECK(acc.monthly[9].mean() == 0.0);
    }
    SECTION("a plant that starts after the horizon never produces") {
        const Model m = load_model_from_string(
            "run: {trials: 10, horizon_months: 12}\nproducts: [{id: metal}]\nfacilities:\n"
            "  - {id: f, product: metal, country: US, capacity: 120, start_month: 12}\n"
            "demands:\n  - {id: d, product: metal, country: US, quantity: 120}\n",
            "late.yaml");
        const Accumulators acc = run_in_memory(m, 1);
        CHECK(acc.shortfall[0].mean() == Approx(120.0).epsilon(1e-12));
        CHECK(acc.any_short[0].mean() == 1.0);
    }
}

TEST_CASE("results do not depend on the thread count", "[repro]") {
    Model m = load_model(kTiny);
    m.run.trials = 2000;
    m.run.block_size = 100;
    const Accumulators a = run_in_memory(m, 1), b = run_in_memory(m, 2);
    REQUIRE(a.trials() == 2000);
    require_same(a.shortfall, b.shortfall);
    require_same(a.demand_total, b.demand_total);
    require_same(a.shortfall_share, b.shortfall_share);
    require_same(a.short_months, b.short_months);
    require_same(a.any_short, b.any_short);
    require_same(a.monthly, b.monthly);
    require_same(a.fac_trial, b.fac_trial);
    require_same(a.fac_months, b.fac_months);
    require_same(a.fac_unserved, b.fac_unserved);
    require_same(a.node_trial, b.node_trial);
    require_same(a.node_months, b.node_months);
    require_same(a.node_unserved, b.node_unserved);
    require_same(a.res_trial, b.res_trial);
    require_same(a.res_months, b.res_months);
    require_same(a.res_unserved, b.res_unserved);
    require_same(a.event_fired, b.event_fired);
    CHECK(a.shortfall_min == b.shortfall_min);
    CHECK(a.shortfall_max == b.shortfall_max);
    CHECK(a.regime_count == b.regime_count);
    // and the run is not trivial
    CHECK(a.shortfall[1].mean() > 0);
    CHECK(a.event_fired[0].mean() > 0);
}

TEST_CASE("per-trial results do not depend on blocks, their order or the simulator's history",
          "[repro]") {
    Model m = load_model(kTiny);
    const std::uint64_t N = 600;
    Simulator one(m);
    BlockResult all;
    one.run_block(0, N, all);
    // another simulator, blocks of 37 trials in reverse order
    Simulator other(m);
    const std::size_t D = m.demands.size(), F = m.facilities.size(), E = m.events.size();
    const std::size_t H = static_cast<std::size_t>(m.run.horizon_months);
    std::vector<std::uint64_t> starts;
    for (std::uint64_t s = 0; s < N; s += 37)
        starts.push_back(s);
    std::reverse(starts.begin(), starts.end());
    for (const auto s : starts) {
        const std::uint64_t n = std::min<std::uint64_t>(37, N - s);
        BlockResult b;
        other.run_block(s, n, b);
        REQUIRE(b.first_trial == s);
        REQUIRE(b.count == n);
        for (std::size_t t = 0; t < n; ++t) {
            const std::size_t g = static_cast<std::size_t>(s) + t;
            INFO("trial " << g);
            REQUIRE(b.regime[t] == all.regime[g]);
            for (std::size_t d = 0; d < D; ++d) {
                REQUIRE(b.shortfall[t * D + d] == all.shortfall[g * D + d]);
                REQUIRE(b.demand_total[t * D + d] == all.demand_total[g * D + d]);
                REQUIRE(b.shortfall_share[t * D + d] == all.shortfall_share[g * D + d]);
                REQUIRE(b.stockpile_min[t * D + d] == all.stockpile_min[g * D + d]);
                REQUIRE(b.short_months[t * D + d] == all.short_months[g * D + d]);
                REQUIRE(b.longest_run[t * D + d] == all.longest_run[g * D + d]);
                REQUIRE(b.stockout_month[t * D + d] == all.stockout_month[g * D + d]);
                for (std::size_t mo = 0; mo < H; ++mo)
                    REQUIRE(b.monthly_shortfall[(t * D + d) * H + mo] ==
                            all.monthly_shortfall[(g * D + d) * H + mo]);
            }
            for (std::size_t f = 0; f < F; ++f)
                REQUIRE(b.facility_binding_months[t * F + f] ==
                        all.facility_binding_months[g * F + f]);
            for (std::size_t e = 0; e < E; ++e)
                REQUIRE(b.event_onset[t * E + e] == all.event_onset[g * E + e]);
        }
    }
}

TEST_CASE("adding an unrelated quantity leaves every other draw unchanged", "[repro]") {
    const Model base = load_model(kTiny);
    // the same config text plus an unrelated chain and an unrelated event, at the front of each
    // list
    std::string text;
    {
        std::ifstream in(kTiny);
        std::ostringstream os;
        os << in.rdbuf();
        text = os.str();
    }
    auto insert_after = [&](const std::string &key, const std::string &what) {
        const auto pos = text.find("\n" + key + ":\n");
        REQUIRE(pos != std::string::npos);
        text.insert(pos + key.size() + 3, what);
    };
    insert_after("products", "  - {id: other}\n");
    insert_after(
        "facilities",
        "  - {id: other_cn, product: other, country: CN, capacity: {uniform: {min: 1, max: 2}}}\n");
    insert_after(
        "demands",
        "  - {id: other_d, product: other, country: JP, quantity: {uniform: {min: 1, max: 3}}}\n");
    insert_after("events",
                 "  - {id: other_ev, type: capacity_shock, targets: {facilities: [other_cn]},"
                 " onset: {probability: 0.5, month: 3}, duration_months: 2}\n");
    const Model more = load_model_from_string(text, kTiny);
    REQUIRE(more.demands.size() == base.demands.size() + 1);
    Simulator sa(base), sb(more);
    BlockResult a, b;
    sa.run_block(0, 500, a);
    sb.run_block(0, 500, b);
    const std::size_t D = base.demands.size();
    for (std::size_t t = 0; t < 500; ++t) {
        INFO("trial " << t);
        // base demand d is demand d + 1 in `more`; base event 0 is event 1
        for (std::size_t d = 0; d < D; ++d) {
            REQUIRE(a.shortfall[t * D + d] == b.shortfall[t * (D + 1) + d + 1]);
            REQUIRE(a.demand_total[t * D + d] == b.demand_total[t * (D + 1) + d + 1]);
            REQUIRE(a.stockpile_min[t * D + d] == b.stockpile_min[t * (D + 1) + d + 1]);
        }
        REQUIRE(a.event_onset[t] == b.event_onset[t * 2 + 1]);
    }
}

TEST_CASE("run_study writes the file atomically and refuses to overwrite", "[output]") {
    TempDir tmp("e2e_study");
    Model m = load_model(kTiny);
    m.run.trials = 300;
    m.run.block_size = 100;
    const std::string target = (tmp.path / "out.h5").string();
    RunOptions opt;
    opt.output = target;
    opt.threads = 2;
    opt.quiet = true;
    const RunReport rep = run_study(m, opt);
    CHECK(rep.trials == 300);
    CHECK(rep.threads == 2);
    REQUIRE(fs::exists(target));
    CHECK(tmp.names() == std::vector<std::string>{"out.h5"}); // no partial file left behind

    // the file holds what the simulator computes
    {
        Simulator sim(m);
        BlockResult r;
        sim.run_block(0, 300, r);
        CHECK(read_dataset<double>(target, "/scenarios/baseline/trials/shortfall") == r.shortfall);
        CHECK(read_dataset<std::int32_t>(target, "/scenarios/baseline/trials/event_onset") ==
              r.event_onset);
        CHECK(read_dataset<float>(target, "/scenarios/baseline/trials/monthly_shortfall") ==
              r.monthly_shortfall);
        H5::H5File f(target, H5F_ACC_RDONLY);
        std::int32_t complete = 0;
        f.openAttribute("complete").read(H5::PredType::NATIVE_INT32, &complete);
        CHECK(complete == 1);
    }

    SECTION("an existing file is not overwritten without overwrite, and stays byte-identical") {
        const std::string before = slurp(target);
        Model m2 = m;
        m2.run.seed = 999;
        RunOptions o2 = opt;
        CHECK_THROWS_AS(run_study(m2, o2), InputError);
        CHECK(slurp(target) == before);
        CHECK(tmp.names() == std::vector<std::string>{"out.h5"});
        CHECK_THROWS_AS(check_output_path(target, false), InputError);
        CHECK_NOTHROW(check_output_path(target, true));
        // with overwrite the file is replaced
        o2.overwrite = true;
        run_study(m2, o2);
        CHECK(slurp(target) != before);
        CHECK(tmp.names() == std::vector<std::string>{"out.h5"});
    }
    SECTION("an output path in a directory that does not exist is an InputError") {
        RunOptions o3 = opt;
        o3.output = (tmp.path / "no_such_dir" / "x.h5").string();
        try {
            run_study(m, o3);
            FAIL("no error for a missing output directory");
        } catch (const InputError &e) {
            CHECK(std::string(e.what()).find("does not exist") != std::string::npos);
        }
        CHECK(!fs::exists(tmp.path / "no_such_dir"));
        CHECK(tmp.names() == std::vector<std::string>{"out.h5"});
    }
    SECTION("a directory as output path, and an empty path, are InputErrors") {
        RunOptions o4 = opt;
        o4.output = tmp.path.string();
        CHECK_THROWS_AS(run_study(m, o4), InputError);
        o4.output = "";
        CHECK_THROWS_AS(run_study(m, o4), InputError);
    }
    SECTION("files written with 1 and 2 threads hold identical per-trial data") {
        const std::string a = (tmp.path / "t1.h5").string(), b = (tmp.path / "t2.h5").string();
        RunOptions o = opt;
        o.output = a;
        o.threads = 1;
        run_study(m, o);
        o.output = b;
        o.threads = 2;
        run_study(m, o);
        for (const char *ds :
             {"/scenarios/baseline/trials/shortfall", "/scenarios/baseline/trials/stockpile_min",
              "/scenarios/baseline/summary/eud", "/scenarios/baseline/summary/eud_se",
              "/scenarios/baseline/summary/shortfall_quantiles",
              "/scenarios/baseline/summary/monthly_mean_shortfall"}) {
            INFO(ds);
            CHECK(read_dataset<double>(a, ds) == read_dataset<double>(b, ds));
        }
        CHECK(read_dataset<float>(a, "/scenarios/baseline/trials/monthly_shortfall") ==
              read_dataset<float>(b, "/scenarios/baseline/trials/monthly_shortfall"));
        CHECK(read_dataset<std::int32_t>(a, "/scenarios/baseline/trials/facility_binding_months") ==
              read_dataset<std::int32_t>(b, "/scenarios/baseline/trials/facility_binding_months"));
    }
}

// Warm re-solves (last month's basis, updated) must give what solving every LP from scratch
// gives: the same short months, chokepoints, stockouts and regimes, and shortfalls equal to
// rounding (1e-9 of the demand's total want). Checked on the shipped chains, where events
// switch on and off, demand grows and plants ramp up.
TEST_CASE("warm-started LPs agree with LPs solved from scratch on the shipped configs", "[repro]") {
    for (const char *name : {"gallium.yaml", "samarium_cobalt.yaml", "ndfeb.yaml"}) {
        const Model m = load_model(std::string(CHOKEPOINT_SOURCE_DIR) + "/configs/" + name);
        Simulator warm(m, nullptr, true), cold(m, nullptr, false);
        BlockResult a, b;
        warm.run_block(0, 60, a);
        cold.run_block(0, 60, b);
        INFO(name);
        CHECK(warm.allocator_stats().warm > 0);
        CHECK(cold.allocator_stats().warm == 0);
        CHECK(a.short_months == b.short_months);
        CHECK(a.longest_run == b.longest_run);
        CHECK(a.stockout_month == b.stockout_month);
        CHECK(a.facility_binding_months == b.facility_binding_months);
        CHECK(a.regime == b.regime);
        CHECK(a.event_onset == b.event_onset);
        REQUIRE(a.shortfall.size() == b.shortfall.size());
        for (std::size_t i = 0; i < a.shortfall.size(); ++i)
            CHECK(std::abs(a.shortfall[i] - b.shortfall[i]) <= 1e-9 * (1.0 + a.demand_total[i]));
    }
}

// Statistics are exactly mergeable: two partial runs (disjoint sets of blocks, as shards or
// processes would run them) merged in either order equal the run of the whole, bit for bit.
TEST_CASE("merge(A, B) of partial runs equals the whole run exactly", "[repro]") {
    const Model m = load_model(kTiny);
    Simulator sim(m);
    const std::uint64_t bs = 250, blocks = 8;
    std::vector<BlockResult> parts(blocks);
    for (std::uint64_t b = 0; b < blocks; ++b)
        sim.run_block(b * bs, bs, parts[b]);
    Accumulators whole(dims_of(m)), a(dims_of(m)), b(dims_of(m));
    for (std::uint64_t i = 0; i < blocks; ++i)
        whole.merge(parts[i].acc);
    for (std::uint64_t i : {0, 2, 4, 6}) // shard A: even blocks, shard B: odd blocks
        a.merge(parts[i].acc);
    for (std::uint64_t i : {7, 5, 3, 1}) // merged in reverse
        b.merge(parts[i].acc);
    Accumulators ab = a, ba = b;
    ab.merge(b);
    ba.merge(a);
    for (const Accumulators *x : {&ab, &ba}) {
        require_same(x->shortfall, whole.shortfall);
        require_same(x->monthly, whole.monthly);
        require_same(x->short_months, whole.short_months);
        require_same(x->node_unserved, whole.node_unserved);
        require_same(x->fired_shortfall, whole.fired_shortfall);
        require_same(x->regime_short, whole.regime_short);
        require_same(x->share_above, whole.share_above);
        CHECK(x->shortfall_max == whole.shortfall_max);
        CHECK(x->monthly_max == whole.monthly_max);
        CHECK(x->regime_count == whole.regime_count);
    }
    CHECK(whole.shortfall[1].mean() > 0); // the example has shortfalls to merge
}

TEST_CASE("an importance-sampled block packs its weights for MPI messages", "[repro][mpi]") {
    Model m = load_model(kTiny);
    m.run.importance.tilts.push_back(
        {"event/cn_export_control/occurs", {0.0, 0.7, 1.0}, {0.4, 0.6}, false});
    Simulator sim(m);
    BlockResult b, c;
    sim.run_block(0, 200, b);
    const auto bytes = pack(b);
    unpack(bytes.data(), bytes.size(), dims_of(m), c);
    REQUIRE(c.weight == b.weight);
    CHECK(c.acc == b.acc);
    // The weights are the tilt's likelihood ratios: 0.7 / 0.4 or 0.3 / 0.6, both seen.
    int low = 0, high = 0;
    for (double w : b.weight) {
        low += w == (1.0 - 0.7) / 0.6;
        high += w == (0.7 - 0.0) / 0.4;
    }
    CHECK(low + high == 200);
    CHECK(low > 0);
    CHECK(high > 0);
}

TEST_CASE("blocks packed for MPI messages unpack to the same block", "[repro][mpi]") {
    const Model m = load_model(kTiny);
    Simulator sim(m);
    BlockResult b, c;
    sim.run_block(500, 250, b);
    const auto bytes = pack(b);
    unpack(bytes.data(), bytes.size(), dims_of(m), c);
    CHECK(c.first_trial == 500);
    CHECK(c.count == 250);
    CHECK(c.shortfall == b.shortfall);
    CHECK(c.monthly_shortfall == b.monthly_shortfall);
    CHECK(c.facility_binding_months == b.facility_binding_months);
    CHECK(c.event_onset == b.event_onset);
    CHECK(c.weight == b.weight);
    CHECK(c.acc == b.acc);
    CHECK_THROWS(unpack(bytes.data(), bytes.size() - 8, dims_of(m), c));
    auto more = bytes;
    more.push_back(0);
    CHECK_THROWS(unpack(more.data(), more.size(), dims_of(m), c));
    Dims other = dims_of(m);
    other.demands += 1;
    CHECK_THROWS(unpack(bytes.data(), bytes.size(), other, c));
    CHECK(c.packed.empty());

    SECTION("with its tables packed for the file (a worker rank's block)") {
        // The packer of a new file of this model, made in memory, as a worker rank makes it.
        RunInfo info;
        info.input_names.push_back({});
        const BlockPacker packer = ResultWriter::packer_for(m, info);
        std::vector<BlockResult> blocks{b};
        CHECK(packer.pack(blocks) > 10); // every table
        const auto packed_bytes = pack(blocks.front());
        BlockResult d;
        unpack(packed_bytes.data(), packed_bytes.size(), dims_of(m), d);
        REQUIRE(d.packed.size() == blocks.front().packed.size());
        auto stamp = [](const PackedTable &t) {
            return std::make_tuple(t.first_trial, t.rows, t.chunk_rows, t.row_values, t.elem,
                                   t.shuffle_pos, t.deflate_pos, t.level);
        };
        for (std::size_t i = 0; i < d.packed.size(); ++i) {
            const auto &x = d.packed[i], &y = blocks.front().packed[i];
            CHECK(stamp(x) == stamp(y));
            CHECK((x.first_trial == 500 && x.rows == 250 && x.chunks == y.chunks));
        }
        // Received packed, a block is kept as it came: nothing to deflate again.
        std::vector<BlockResult> received{d};
        CHECK(packer.pack(received) == 0);
        // A message whose packed table lies about its chunks is refused.
        auto bad = packed_bytes;
        bad.resize(bad.size() - 1);
        CHECK_THROWS(unpack(bad.data(), bad.size(), dims_of(m), d));
    }
}

TEST_CASE("blocks beyond the run's trials (benchmarks) stay within the accumulators", "[repro]") {
    // bench_engine simulates more blocks than run.trials: the replicate index of such trials must
    // stay in range (it overran the per-replicate accumulators before).
    Model m = load_model(kTiny);
    set_trials(m, 200);
    Simulator sim(m);
    BlockResult b;
    sim.run_block(5000, 100, b);
    CHECK(b.acc.trials() == 100);
    CHECK(b.acc.rep_shortfall.at(0).count() == 100);
}

TEST_CASE("shards cut the blocks into contiguous, disjoint, near-even slices", "[shards]") {
    for (std::uint64_t nb : {1, 2, 7, 10, 20, 1001})
        for (int n = 1; n <= 8; ++n) {
            if (nb < static_cast<std::uint64_t>(n)) {
                CHECK_THROWS_AS(shard_blocks(nb, 1, n), InputError);
                continue;
            }
            std::uint64_t next = 0, smallest = nb, largest = 0;
            for (int k = 1; k <= n; ++k) {
                const auto [f, e] = shard_blocks(nb, k, n);
                CHECK(f == next);
                CHECK(e > f);
                smallest = std::min(smallest, e - f);
                largest = std::max(largest, e - f);
                next = e;
            }
            CHECK(next == nb);
            CHECK(largest - smallest <= 1);
        }
    CHECK_THROWS_AS(shard_blocks(10, 0, 2), InputError);
    CHECK_THROWS_AS(shard_blocks(10, 3, 2), InputError);
}

TEST_CASE("a model rebuilt from stored config texts equals the model from disk", "[output]") {
    const Model a = load_model(kMaterials);
    CHECK(a.files.size() > 1); // the default study includes files
    const Model b = load_model_from_files(a.files);
    CHECK(b.files.size() == a.files.size());
    CHECK(b.facilities.size() == a.facilities.size());
    CHECK(b.node_names == a.node_names);
    BlockResult x, y;
    Simulator sa(a), sb(b);
    sa.run_block(0, 20, x);
    sb.run_block(0, 20, y);
    CHECK(x.shortfall == y.shortfall);
    // Includes come from the stored texts, never from disk.
    auto files = a.files;
    files.pop_back();
    CHECK_THROWS_AS(load_model_from_files(files), InputError);
}

// Small runs of every size write a complete file: the read-back statistics (quantiles, their
// intervals, VaR/CVaR, monthly bands from float32 data) hold for 1, 2, 10, 50 trials and seeds.
TEST_CASE("small runs write complete files whatever the trial count and seed", "[output]") {
    const fs::path dir =
        fs::temp_directory_path() / ("chokepoint_small_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    for (std::uint64_t trials : {1, 2, 10, 50})
        for (std::uint64_t seed = 1; seed <= 8; ++seed) {
            Model m = load_model(kTiny);
            m.run.trials = trials;
            m.run.seed = seed;
            m.run.block_size = 7;
            RunOptions opt;
            opt.output = (dir / "small.h5").string();
            opt.overwrite = true;
            opt.quiet = true;
            INFO("trials " << trials << ", seed " << seed);
            REQUIRE_NOTHROW(run_study(m, opt));
            CHECK(fs::exists(opt.output));
        }
    fs::remove_all(dir);
}

// Chain reuse (engine/chain_reuse.hpp): which value chains a scenario shares with the baseline.
// The runs themselves are compared bit for bit by tests/python/test_chain_reuse.py.
TEST_CASE("chain reuse: a scenario shares exactly the chains it does not edit", "[reuse]") {
    const Model m = load_model(kMaterials);
    auto scenario = [&](const std::string &id) -> const Model & {
        for (const auto &s : m.scenarios)
            if (s.id == id)
                return *s.model;
        FAIL("no scenario " << id);
        return m;
    };
    auto chain_of = [](const Model &x, const std::string &product) {
        for (const auto &p : x.products)
            if (p.id == product)
                return p.component;
        return -1;
    };
    const Model &reserve = scenario("ga_us_reserve_12m");
    const auto r = chain_reuse(m, reserve);
    REQUIRE(r.reuse.size() == static_cast<std::size_t>(reserve.n_components));
    CHECK_FALSE(r.reuse[static_cast<std::size_t>(chain_of(reserve, "ga_6n"))]);
    CHECK(r.reuse[static_cast<std::size_t>(chain_of(reserve, "smco_magnet"))]);
    CHECK(r.reuse[static_cast<std::size_t>(chain_of(reserve, "ndfeb_magnet"))]);
    for (std::size_t d = 0; d < reserve.demands.size(); ++d) {
        const bool gallium =
            reserve.products[static_cast<std::size_t>(reserve.demands[d].product)].component ==
            chain_of(reserve, "ga_6n");
        if (gallium) {
            CHECK(r.demand[d] < 0);
        } else {
            REQUIRE(r.demand[d] >= 0);
            CHECK(m.demands[static_cast<std::size_t>(r.demand[d])].id == reserve.demands[d].id);
        }
    }
    // An allocation rule changes every chain.
    CHECK_FALSE(chain_reuse(m, scenario("rule_coordinated")).any());
    // The baseline against itself: nothing to reuse (it is the one simulated).
    CHECK_FALSE(chain_reuse(m, m).any());
}

TEST_CASE("chain reuse: any edit of a chain's inputs, and a restriction spanning two chains, "
          "prevent it",
          "[reuse]") {
    const Model m = load_model(kMaterials);
    auto comp = [&](const Model &x, const std::string &product) {
        for (const auto &p : x.products)
            if (p.id == product)
                return p.component;
        return -1;
    };
    const int sm = comp(m, "smco_magnet"), ga = comp(m, "ga_6n");
    const auto sig_sm = component_signature(m, sm), sig_ga = component_signature(m, ga);
    REQUIRE_FALSE(sig_sm.empty());
    // A distribution parameter of one facility of the SmCo chain.
    Model edited = m;
    for (auto &f : edited.facilities)
        if (edited.products[static_cast<std::size_t>(f.product)].component == sm) {
            f.capacity.b = std::nextafter(f.capacity.b, 1e300);
            break;
        }
    CHECK(component_signature(edited, sm) != sig_sm);
    CHECK(component_signature(edited, ga) == sig_ga);
    // A stockpile's refill of a demand of the chain.
    Model refill = m;
    for (auto &d : refill.demands)
        if (refill.products[static_cast<std::size_t>(d.product)].component == sm &&
            d.has_stockpile) {
            d.stockpile.has_refill = !d.stockpile.has_refill;
            break;
        }
    CHECK(component_signature(refill, sm) != sig_sm);
    // The seed, a regime weight: every chain.
    Model seeded = m;
    seeded.run.seed += 1;
    CHECK(component_signature(seeded, ga) != sig_ga);
    Model regimes = m;
    regimes.regimes.back().weight *= 2;
    CHECK(component_signature(regimes, ga) != sig_ga);
    // A restriction that covers products of two chains: neither can be reused.
    Model spans = m;
    REQUIRE_FALSE(spans.restrictions.empty());
    for (std::size_t p = 0; p < spans.products.size(); ++p)
        if (spans.products[p].component == sm || spans.products[p].component == ga)
            spans.restrictions.front().product[p] = 1;
    CHECK(component_signature(spans, sm).empty());
    CHECK(component_signature(spans, ga).empty());
}

TEST_CASE("blocks packed in the parallel stage give the same file as the writer deflating them",
          "[output]") {
    // The default study (its 7 scenarios copy or re-simulate chains), every table stored (the
    // sampled inputs too), blocks of 40 trials with a short last one, on 2 threads.
    TempDir tmp("e2e_pack");
    const Model m = default_study_with([](Model &x) {
        x.run.trials = 130;
        x.run.block_size = 40;
        x.run.store_inputs = true;
    });
    // Packed; packed with a checkpoint after every block (each reopens the file in a new
    // writer, while the pipeline keeps its packer); not packed.
    std::uint64_t stored[3] = {0, 0, 0};
    auto run = [&](int k, bool pack, double checkpoint_every, const std::string &name) {
        RunOptions opt;
        opt.output = (tmp.path / name).string();
        opt.threads = 2;
        opt.quiet = true;
        opt.pack_blocks = pack;
        opt.checkpoint_every = checkpoint_every;
        stored[k] = run_study(m, opt).packed_chunks;
        return opt.output;
    };
    const std::string packed = run(0, true, 300, "packed.h5"),
                      resumed = run(1, true, 1e-9, "checkpointed.h5"),
                      plain = run(2, false, 300, "plain.h5");
    for (const auto &file : {packed, resumed}) {
        INFO(file);
        H5::H5File a(file, H5F_ACC_RDONLY), b(plain, H5F_ACC_RDONLY);
        auto scen = a.openGroup("/scenarios");
        REQUIRE(scen.getNumObjs() == 8);
        std::size_t chunks = 0;
        for (hsize_t s = 0; s < scen.getNumObjs(); ++s) {
            const std::string trials = "/scenarios/" + scen.getObjnameByIdx(s) + "/trials";
            auto ga = a.openGroup(trials);
            for (hsize_t i = 0; i < ga.getNumObjs(); ++i) {
                const std::string path = trials + "/" + ga.getObjnameByIdx(i);
                if (ga.getObjTypeByIdx(i) != H5G_DATASET)
                    continue;
                auto da = a.openDataSet(path), db = b.openDataSet(path);
                if (H5Pget_layout(da.getCreatePlist().getId()) != H5D_CHUNKED)
                    continue;
                INFO(path);
                chunks += test::same_stored_chunks(da, db);
            }
        }
        CHECK(chunks >= 8 * 4 * 12); // 4 chunks (blocks) of at least 12 tables in each scenario
        // Every chunk was stored as packed in the packed runs, none in the other.
        CHECK(stored[file == packed ? 0 : 1] == chunks);
        // And the summaries.
        CHECK(read_dataset<double>(file, "/scenarios/baseline/summary/eud") ==
              read_dataset<double>(plain, "/scenarios/baseline/summary/eud"));
    }
    CHECK(stored[2] == 0);
}

TEST_CASE("the summary's numbers are the same from shortfall tables held in memory or read back",
          "[output]") {
    // The summary reads each scenario's shortfall table into memory once when it is small
    // enough (io_detail::set_held_table_bytes) and runs its passes there: the quantiles, the
    // tail pass (CVaR, exceedance, its columns on several threads), the paired differences'
    // bootstrap (its demands compared and sorted in parallel) and the rank sensitivity. With
    // the limit at 0 every pass reads the file, as before. The default study (7 scenarios,
    // chains copied and re-simulated), rank sensitivity, 100 trials in blocks of 40, 2 threads,
    // 50 bootstrap replicates.
    TempDir tmp("e2e_held");
    const Model m = default_study_with([](Model &x) {
        x.run.trials = 100;
        x.run.block_size = 40;
        x.run.bootstrap = 50;
        x.run.sensitivity = Sensitivity::Rank;
        x.run.store_inputs = true;
    });
    auto run = [&](double held_bytes, const std::string &name) {
        const double before = io_detail::set_held_table_bytes(held_bytes);
        RunOptions opt;
        opt.output = (tmp.path / name).string();
        opt.threads = 2;
        opt.quiet = true;
        run_study(m, opt);
        io_detail::set_held_table_bytes(before);
        return opt.output;
    };
    const std::string held = run(double(std::size_t(32) << 20), "held.h5"),
                      read = run(0, "read.h5");
    H5::H5File a(held, H5F_ACC_RDONLY), b(read, H5F_ACC_RDONLY);
    auto bytes = [](H5::DataSet &ds) {
        const auto type = ds.getDataType();
        std::vector<unsigned char> out(
            static_cast<std::size_t>(ds.getSpace().getSimpleExtentNpoints()) * type.getSize());
        if (!out.empty())
            ds.read(out.data(), type);
        return out;
    };
    auto scen = a.openGroup("/scenarios");
    REQUIRE(scen.getNumObjs() == 8);
    std::size_t compared = 0, sensitivity = 0;
    for (hsize_t s = 0; s < scen.getNumObjs(); ++s) {
        for (const char *group : {"summary", "sensitivity"}) {
            const std::string path = "/scenarios/" + scen.getObjnameByIdx(s) + "/" + group;
            if (!a.nameExists(path))
                continue;
            sensitivity += std::string(group) == "sensitivity";
            auto ga = a.openGroup(path);
            for (hsize_t i = 0; i < ga.getNumObjs(); ++i) {
                if (ga.getObjTypeByIdx(i) != H5G_DATASET)
                    continue;
                const std::string name = path + "/" + ga.getObjnameByIdx(i);
                auto da = a.openDataSet(name), db = b.openDataSet(name);
                const auto cls = da.getTypeClass();
                if (cls != H5T_FLOAT && cls != H5T_INTEGER)
                    continue;
                INFO(name);
                CHECK(bytes(da) == bytes(db));
                ++compared;
            }
        }
    }
    CHECK(sensitivity == 8);
    // Among them the quantiles, CVaR, exceedance curve and the differences' standard errors.
    CHECK(compared > 8 * 40);
    CHECK(read_dataset<double>(held, "/scenarios/rule_proportional/summary/"
                                     "diff_shortfall_quantiles_se") ==
          read_dataset<double>(read, "/scenarios/rule_proportional/summary/"
                                     "diff_shortfall_quantiles_se"));
}
