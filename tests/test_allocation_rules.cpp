// The allocation rules (docs/model.md, "Allocation rules") on hand-solved one-month problems:
// coordinated, home_first (with and without blocs) and proportional (pooled and trade shares),
// with two countries, a bloc, recipes and leaky restrictions; the chokepoint test after stockpile
// draws and under a rule. MonthInput quantities are per MONTH; deliveries to 1e-9 relative.
#include "allocation_month.hpp"
#include "config/config.hpp"
#include "study/run.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <set>
#include <string>

using namespace chokepoint;
using chokepoint::test::close;
using chokepoint::test::Month;

namespace {
constexpr auto kCoord = AllocationRule::Coordinated;
constexpr auto kHome = AllocationRule::HomeFirst;
constexpr auto kProp = AllocationRule::Proportional;

// A Japanese mine; Japan (tier 2) and US defense (tier 1).
const char *kTwo = R"(
country_groups: {allies: [US, JP]}
products: [{id: ore}]
facilities: [{id: mine_jp, product: ore, country: JP, capacity: 1}]
demands:
  - {id: jp, product: ore, country: JP, tier: 2, quantity: 1}
  - {id: us, product: ore, country: US, tier: 1, quantity: 1}
)";
} // namespace

TEST_CASE("the issue's two-country check: coordinated US 8 JP 2, home_first JP 6 US 4", "[rules]") {
    for (const auto rule : {kCoord, kHome, kProp}) {
        Month mo(kTwo);
        mo.rule(rule).c("mine_jp", 10).w("jp", 6).w("us", 8).solve();
        INFO("rule " << static_cast<int>(rule));
        if (rule == kCoord) {
            CHECK_DELIVERED(mo, "us", 8.0);
            CHECK_DELIVERED(mo, "jp", 2.0);
        } else if (rule == kHome) {
            CHECK_DELIVERED(mo, "jp", 6.0); // phase 1: Japan serves itself
            CHECK_DELIVERED(mo, "us", 4.0); // phase 2: the rest crosses the border
        } else {
            // pooled shares of the mine's output: 6/14 and 8/14; nothing left for phase 2
            CHECK_DELIVERED(mo, "jp", 60.0 / 14.0);
            CHECK_DELIVERED(mo, "us", 80.0 / 14.0);
        }
    }
}

TEST_CASE("home_first: a bloc makes its members one home (then as coordinated)", "[rules]") {
    Month mo(kTwo);
    mo.rule(kHome);
    mo.m.allocation.blocs = {"allies"};
    const int jp = mo.m.countries[0] == "JP" ? 0 : 1, us = 1 - jp;
    mo.m.allocation.home = {0, 0}; // one home
    mo.c("mine_jp", 10).w("jp", 6).w("us", 8).solve();
    CHECK_DELIVERED(mo, "us", 8.0);
    CHECK_DELIVERED(mo, "jp", 2.0);
    // The loader builds the same homes from allocation.blocs.
    const Model built = load_model_from_string(std::string(kTwo) + R"(
allocation: {rule: home_first, blocs: [allies]}
)",
                                               "bloc.yaml");
    REQUIRE(built.allocation.home.size() == 2);
    CHECK(built.allocation.home[static_cast<std::size_t>(jp)] ==
          built.allocation.home[static_cast<std::size_t>(us)]);
}

TEST_CASE("home_first: a refinery at home uses home feed first (docs example 2)", "[rules]") {
    const char *yaml = R"(
products:
  - {id: ore}
  - {id: metal, recipe: {ore: 1}}
facilities:
  - {id: ore_cn, product: ore, country: CN, capacity: 1}
  - {id: ore_jp, product: ore, country: JP, capacity: 1}
  - {id: ref_jp, product: metal, country: JP, capacity: 1}
  - {id: ref_cn, product: metal, country: CN, capacity: 1}
demands:
  - {id: jp, product: metal, country: JP, tier: 1, quantity: 1}
  - {id: cn, product: metal, country: CN, tier: 2, quantity: 1}
)";
    for (const auto rule : {kCoord, kHome, kProp}) {
        Month mo(yaml);
        mo.rule(rule)
            .c("ore_cn", 10)
            .c("ore_jp", 2)
            .c("ref_jp", 10)
            .c("ref_cn", 10)
            .w("jp", 8)
            .w("cn", 6)
            .solve();
        INFO("rule " << static_cast<int>(rule));
        if (rule == kCoord) { // tier 1 first: 2 JP ore + 6 CN ore for Japan
            CHECK_DELIVERED(mo, "jp", 8.0);
            CHECK_DELIVERED(mo, "cn", 4.0);
        } else if (rule == kHome) { // phase 1: JP 2 (own ore), CN 6; phase 2: 4 CN ore to JP
            CHECK_DELIVERED(mo, "jp", 6.0);
            CHECK_DELIVERED(mo, "cn", 6.0);
        } else {
            // Ore contracts: both refineries need 10 -> half of each mine's output each: JP
            // refinery 1 + 5 = 6 ore, CN refinery 1 + 5 = 6; metal contracts by want (8 : 6):
            // JP gets 8/14 of 12 = 6.857, CN 6/14 of 12 = 5.143 (<= its want 6); nothing left.
            CHECK_DELIVERED(mo, "jp", 12.0 * 8.0 / 14.0);
            CHECK_DELIVERED(mo, "cn", 12.0 * 6.0 / 14.0);
        }
    }
}

TEST_CASE("home_first: a leaky ban on top of home-first floors", "[rules]") {
    const char *yaml = R"(
products: [{id: ore}]
facilities: [{id: mine_cn, product: ore, country: CN, capacity: 1}]
demands:
  - {id: cn, product: ore, country: CN, tier: 2, quantity: 1}
  - {id: us, product: ore, country: US, tier: 1, quantity: 1}
events:
  - {id: ban, type: export_control, exporters: CN, importers: [US],
     onset: {active_at_start: true}, duration_months: 12, leakage: 0.2}
)";
    for (const auto rule : {kCoord, kHome}) {
        Month mo(yaml);
        mo.rule(rule).c("mine_cn", 10).w("cn", 9).w("us", 10).restrict("ban", true, 0.2).solve();
        INFO("rule " << static_cast<int>(rule));
        if (rule == kCoord) { // tier 1 first, capped by the leak: 0.2 x 10
            CHECK_DELIVERED(mo, "us", 2.0);
            CHECK_DELIVERED(mo, "cn", 8.0);
        } else { // China serves itself first (9); 1 is left for the US, within the allowance
            CHECK_DELIVERED(mo, "cn", 9.0);
            CHECK_DELIVERED(mo, "us", 1.0);
        }
    }
}

TEST_CASE("home_first: a home that cannot reach its demands, or serves them all, poses no "
          "phase-1 LP",
          "[rules]") {
    // Japan refines but mines nothing: with its ore at 0, nothing made at home reaches its
    // demand, so its phase-1 floor is 0 without an LP (the skip that halves the default
    // study's LPs); with ore at home it is solved. China's home serves its demand in full
    // (6 of its 10 ore), which the certificate proves without an LP (docs/model.md). The US has a
    // refinery and no ore: never reachable alone. In the bloc {US, JP}, a ban on JP ore to the US
    // closes one home lane but not the home (JP ore still reaches ref_jp, whose metal reaches the
    // US).
    const std::string yaml = R"(
country_groups: {allies: [US, JP]}
products:
  - {id: ore}
  - {id: metal, recipe: {ore: 1}}
facilities:
  - {id: ore_cn, product: ore, country: CN, capacity: 1}
  - {id: ore_jp, product: ore, country: JP, capacity: 1}
  - {id: ref_jp, product: metal, country: JP, capacity: 1}
  - {id: ref_cn, product: metal, country: CN, capacity: 1}
  - {id: ref_us, product: metal, country: US, capacity: 1}
demands:
  - {id: jp, product: metal, country: JP, tier: 1, quantity: 1}
  - {id: cn, product: metal, country: CN, tier: 2, quantity: 1}
  - {id: us, product: metal, country: US, tier: 1, quantity: 1}
events:
  - {id: ban, type: export_control, exporters: JP, importers: [US], products: [ore],
     onset: {active_at_start: true}, duration_months: 12, leakage: 0}
)";
    struct Case {
        double ore_jp;
        bool bloc;
        double jp, cn, us; // deliveries
        std::size_t homes; // homes whose phase 1 poses LPs
    };
    // CN's home serves cn 6 from its 10 ore in phase 1; phase 2 shares the remaining 4 CN ore
    // between the tier-1 demands jp (want 8) and us (want 2) at one fill level f, each at
    // least its floor:
    //  ore_jp 0: jp's floor 0: 8f + 2f = 4: jp 3.2, us 0.8; homes solved by LPs: none.
    //  ore_jp 2: jp's floor 2 (own ore); 6 ore in all for jp and us: f = 0.6: jp 4.8, us 1.2;
    //            homes solved by LPs: JP (or the bloc).
    const Case cases[] = {
        {0, false, 3.2, 6.0, 0.8, 0},
        {2, false, 4.8, 6.0, 1.2, 1},
        {0, true, 3.2, 6.0, 0.8, 0},
        {2, true, 4.8, 6.0, 1.2, 1},
    };
    for (const auto &k : cases) {
        Month mo(yaml + (k.bloc ? "allocation: {rule: home_first, blocs: [allies]}\n"
                                : "allocation: {rule: home_first}\n"));
        mo.c("ore_cn", 10).c("ore_jp", k.ore_jp).c("ref_jp", 20).c("ref_cn", 20).c("ref_us", 20);
        mo.w("jp", 8).w("cn", 6).w("us", 2).restrict("ban", true, 0.0);
        Allocator a(mo.m);
        std::set<std::string> homes;
        a.set_lp_observer([&](const LinearProgram &, const std::string &role) {
            const auto at = role.find("home of ");
            if (role.rfind("home phase 1", 0) == 0 && at != std::string::npos)
                homes.insert(role.substr(at));
        });
        a.solve(mo.input(), mo.out);
        INFO("ore_jp " << k.ore_jp << ", bloc " << k.bloc);
        CHECK_DELIVERED(mo, "jp", k.jp);
        CHECK_DELIVERED(mo, "cn", k.cn);
        CHECK_DELIVERED(mo, "us", k.us);
        CHECK(homes.size() == k.homes);
        CHECK(homes.count("home of CN") == 0);
        CHECK(a.stats().certified_homes == 1); // CN's
    }
}

TEST_CASE("home_first: tiers apply within the home, then across borders", "[rules]") {
    const char *yaml = R"(
products: [{id: ore}]
facilities: [{id: mine_jp, product: ore, country: JP, capacity: 1}]
demands:
  - {id: jp1, product: ore, country: JP, tier: 1, quantity: 1}
  - {id: jp2, product: ore, country: JP, tier: 2, quantity: 1}
  - {id: us1, product: ore, country: US, tier: 1, quantity: 1}
)";
    Month home(yaml), coord(yaml);
    home.rule(kHome).c("mine_jp", 10).w("jp1", 4).w("jp2", 8).w("us1", 8).solve();
    CHECK_DELIVERED(home, "jp1", 4.0);
    CHECK_DELIVERED(home, "jp2", 6.0);
    CHECK_DELIVERED(home, "us1", 0.0);
    coord.c("mine_jp", 10).w("jp1", 4).w("jp2", 8).w("us1", 8).solve();
    // tier 1 shares 10 max-min fairly: 4t + 8t = 10
    CHECK_DELIVERED(coord, "jp1", 4.0 * 10.0 / 12.0);
    CHECK_DELIVERED(coord, "us1", 8.0 * 10.0 / 12.0);
    CHECK(coord.got("jp2") < 1e-9); // tier 2 gets nothing (rounding aside)
}

TEST_CASE("home_first: floors below the water level change nothing", "[rules]") {
    const char *yaml = R"(
products: [{id: ore}]
facilities:
  - {id: mine_cn, product: ore, country: CN, capacity: 1}
  - {id: mine_jp, product: ore, country: JP, capacity: 1}
demands:
  - {id: jp, product: ore, country: JP, tier: 1, quantity: 1}
  - {id: us, product: ore, country: US, tier: 1, quantity: 1}
)";
    for (const auto rule : {kCoord, kHome}) {
        Month mo(yaml);
        mo.rule(rule).c("mine_cn", 10).c("mine_jp", 2).w("jp", 8).w("us", 8).solve();
        // home_first: JP's floor is 2; the level rises to 6 for both (8t + 8t = 12)
        CHECK_DELIVERED(mo, "jp", 6.0);
        CHECK_DELIVERED(mo, "us", 6.0);
    }
}

TEST_CASE("proportional: a leaky ban (docs example 3) and tiers only in phase 2", "[rules]") {
    const char *yaml = R"(
products: [{id: ore}]
facilities: [{id: mine_cn, product: ore, country: CN, capacity: 1}]
demands:
  - {id: us, product: ore, country: US, tier: 1, quantity: 1}
  - {id: jp, product: ore, country: JP, tier: 1, quantity: 1}
  - {id: jp2, product: ore, country: JP, tier: 2, quantity: 1}
events:
  - {id: ban, type: export_control, exporters: CN, importers: [US],
     onset: {active_at_start: true}, duration_months: 12, leakage: 0.2}
)";
    SECTION("leaky ban: contracts 5 and 5 x 0.2, then the spot market within the allowance") {
        Month mo(yaml);
        mo.rule(kProp).c("mine_cn", 10).w("us", 10).w("jp", 10).w("jp2", 0);
        mo.restrict("ban", true, 0.2).solve();
        CHECK_DELIVERED(mo, "us", 2.0);
        CHECK_DELIVERED(mo, "jp", 8.0);
    }
    SECTION("contracts ignore tiers: tier 2 keeps its share") {
        Month mo(yaml), co(yaml);
        mo.rule(kProp).c("mine_cn", 10).w("us", 0).w("jp", 10).w("jp2", 10).solve();
        CHECK_DELIVERED(mo, "jp", 5.0);
        CHECK_DELIVERED(mo, "jp2", 5.0);
        co.c("mine_cn", 10).w("us", 0).w("jp", 10).w("jp2", 10).solve();
        CHECK_DELIVERED(co, "jp", 10.0);
        CHECK_DELIVERED(co, "jp2", 0.0);
    }
    SECTION("no shortage: everyone served in full under every rule") {
        for (const auto rule : {kCoord, kHome, kProp}) {
            Month mo(yaml);
            mo.rule(rule).c("mine_cn", 30).w("us", 2).w("jp", 3).w("jp2", 4).solve();
            CHECK_DELIVERED(mo, "us", 2.0);
            CHECK_DELIVERED(mo, "jp", 3.0);
            CHECK_DELIVERED(mo, "jp2", 4.0);
        }
    }
}

TEST_CASE("proportional with trade shares: contracts by exporter and importer", "[rules]") {
    const char *yaml = R"(
products: [{id: ore}]
facilities: [{id: mine_cn, product: ore, country: CN, capacity: 1}]
demands:
  - {id: jp, product: ore, country: JP, tier: 1, quantity: 1}
  - {id: us, product: ore, country: US, tier: 1, quantity: 1}
  - {id: de, product: ore, country: DE, tier: 1, quantity: 1}
  - {id: de2, product: ore, country: DE, tier: 1, quantity: 1}
allocation:
  rule: proportional
  reference: trade_shares
  trade_shares:
    ore:
      CN: {JP: 0.5, US: 0.1, DE: 0.2}
)";
    Month mo(yaml);
    // Contracts of the 12: JP 6, US 1.2, Germany 2.4 split 1 : 3 by want (de 0.6, de2 1.8);
    // 2.4 uncontracted. Spot market from the floors (fill fractions: jp 0.6, us 0.12, de 0.06,
    // de2 0.06): the level t rises from 0.06 over de and de2 (10t and 30t); at t = 0.12 they
    // have taken 0.6 + 1.8 = 2.4, all that was left, and the US's floor is reached.
    mo.c("mine_cn", 12).w("jp", 10).w("us", 10).w("de", 10).w("de2", 30).solve();
    CHECK_DELIVERED(mo, "jp", 6.0);
    CHECK_DELIVERED(mo, "us", 1.2);
    CHECK_DELIVERED(mo, "de", 1.2);
    CHECK_DELIVERED(mo, "de2", 3.6);
    // The table is validated: a share over 1 in a row, a country outside the model.
    CHECK_THROWS_WITH(
        load_model_from_string(std::string(yaml) + "      US: {JP: 0.7, CN: 0.6}\n", "ts.yaml"),
        Catch::Contains("add up to 1.3"));
}

TEST_CASE("proportional: contracts flow through a multi-input recipe", "[rules]") {
    const char *yaml = R"(
products:
  - {id: sm}
  - {id: co}
  - {id: magnet, recipe: {sm: 0.5, co: 0.5}}
facilities:
  - {id: sm_cn, product: sm, country: CN, capacity: 1}
  - {id: co_cd, product: co, country: CD, capacity: 1}
  - {id: mag_cn, product: magnet, country: CN, capacity: 1}
  - {id: mag_us, product: magnet, country: US, capacity: 1}
demands:
  - {id: us, product: magnet, country: US, tier: 1, quantity: 1}
  - {id: cn, product: magnet, country: CN, tier: 2, quantity: 1}
)";
    Month mo(yaml);
    // sm 4 and co 10; both magnet plants (capacity 10) need 5 of each: half of each input to
    // each. Each plant gets 2 sm and 5 co: makes min(2, 5) / 0.5 = 4 magnets. Magnet
    // contracts by want (US 6 : CN 6): each plant's 4 split 2 : 2: US 4, CN 4 (phase 1). The
    // spot market has nothing left (sm is used up).
    mo.rule(kProp)
        .c("sm_cn", 4)
        .c("co_cd", 10)
        .c("mag_cn", 10)
        .c("mag_us", 10)
        .w("us", 6)
        .w("cn", 6)
        .solve();
    CHECK_DELIVERED(mo, "us", 4.0);
    CHECK_DELIVERED(mo, "cn", 4.0);
    Month co(yaml);
    co.c("sm_cn", 4).c("co_cd", 10).c("mag_cn", 10).c("mag_us", 10).w("us", 6).w("cn", 6).solve();
    CHECK_DELIVERED(co, "us", 6.0); // coordinated: tier 1 first
    CHECK_DELIVERED(co, "cn", 2.0);
}

// Chokepoints count shortfalls after stockpile draws (the issue's two minimal cases).
TEST_CASE("a gap covered by a stockpile makes nothing bind", "[rules][chokepoint]") {
    Month mo(R"(
products: [{id: ore}]
facilities: [{id: mine, product: ore, country: CN, capacity: 1}]
demands: [{id: buyer, product: ore, country: US, quantity: 1, stockpile: {initial: 100}}]
)");
    mo.c("mine", 5).w("buyer", 10).stock("buyer", 100).solve();
    CHECK_DELIVERED(mo, "buyer", 5.0);
    CHECK(mo.bound_nodes() == 0);
    CHECK_FALSE(mo.out.component_short[0]);
    // The same month with a stockpile too small: short after the draw, the mine binds.
    mo.stock("buyer", 2).solve();
    CHECK(mo.binds("ore@CN"));
    CHECK(mo.out.component_short[0]);
}

TEST_CASE("tier 1 covered by its stockpile, tier 2 short: tier 2's chokepoints",
          "[rules][chokepoint]") {
    Month mo(R"(
products: [{id: ore}]
facilities:
  - {id: mine_cn, product: ore, country: CN, capacity: 1}
  - {id: mine_jp, product: ore, country: JP, capacity: 1}
demands:
  - {id: us, product: ore, country: US, tier: 1, quantity: 1, stockpile: {initial: 100}}
  - {id: jp, product: ore, country: JP, tier: 2, quantity: 1}
lanes: [{id: no_cn_jp, from: CN, to: JP}, {id: no_jp_us, from: JP, to: US}]
)");
    mo.c("mine_cn", 5).c("mine_jp", 1).w("us", 10).w("jp", 10).stock("us", 100).solve();
    CHECK_DELIVERED(mo, "us", 5.0);
    CHECK_DELIVERED(mo, "jp", 1.0);
    CHECK(mo.binds("ore@JP"));       // more Japanese ore is what Japan lacks
    CHECK_FALSE(mo.binds("ore@CN")); // China's ore goes to the US (tier 1, held)
    CHECK_FALSE(mo.res_binds("no_jp_us"));
    CHECK_FALSE(mo.res_binds("no_cn_jp")); // China has nothing left for Japan
}

TEST_CASE("home_first: a capacity that home demand absorbs does not bind for a foreign shortfall",
          "[rules][chokepoint]") {
    const char *yaml = R"(
products: [{id: ore}]
facilities:
  - {id: mine_jp, product: ore, country: JP, capacity: 1}
  - {id: mine_cn, product: ore, country: CN, capacity: 1}
demands:
  - {id: jp, product: ore, country: JP, tier: 2, quantity: 1}
  - {id: us, product: ore, country: US, tier: 1, quantity: 1}
events:
  - {id: ban, type: export_control, exporters: CN, importers: [US],
     onset: {active_at_start: true}, duration_months: 12, leakage: 0}
)";
    Month home(yaml);
    home.rule(kHome).c("mine_jp", 10).c("mine_cn", 0).w("jp", 12).w("us", 8);
    home.restrict("ban", true, 0.0).solve();
    // Japan keeps its 10 (its home need is 12); the US, tier 1 but abroad, gets nothing.
    CHECK_DELIVERED(home, "jp", 10.0);
    CHECK_DELIVERED(home, "us", 0.0);
    // More Japanese ore would first serve Japan (short at home): it does not bind for the US.
    // More Chinese ore (China has no home need) would go to Japan in phase 2 and free Japanese
    // ore for the US (only deliveries are kept from phase 1): it binds. The ban does not: China
    // makes nothing to send through a leakier one.
    CHECK_FALSE(home.binds("ore@JP"));
    CHECK(home.binds("ore@CN"));
    CHECK_FALSE(home.res_binds("ban"));
    Month coord(yaml);
    coord.c("mine_jp", 10).c("mine_cn", 0).w("jp", 12).w("us", 8).restrict("ban", true, 0.0);
    coord.solve();
    CHECK_DELIVERED(coord, "us", 8.0); // tier 1 first: Japanese ore to the US
    CHECK_DELIVERED(coord, "jp", 2.0);
    CHECK(coord.binds("ore@JP")); // now Japan (tier 2) is the short one
    // Once Japan's home need is met, its extra capacity reaches the US: it binds again.
    Month met(yaml);
    met.rule(kHome).c("mine_jp", 14).c("mine_cn", 0).w("jp", 12).w("us", 8);
    met.restrict("ban", true, 0.0).solve();
    CHECK_DELIVERED(met, "jp", 12.0);
    CHECK_DELIVERED(met, "us", 2.0);
    CHECK(met.binds("ore@JP"));
}

TEST_CASE("home_first: phase 2 may re-route, keeping every floor", "[rules]") {
    // China's ore cannot reach the US; Japan's can. Japan takes Chinese ore and the US gets
    // Japanese ore: Japan's floor (10) is kept, the US gets 3 (only deliveries are kept from
    // phase 1, not routes; docs/model.md).
    Month mo(R"(
products: [{id: ore}]
facilities:
  - {id: mine_jp, product: ore, country: JP, capacity: 1}
  - {id: mine_cn, product: ore, country: CN, capacity: 1}
demands:
  - {id: jp, product: ore, country: JP, tier: 2, quantity: 1}
  - {id: us, product: ore, country: US, tier: 1, quantity: 1}
lanes: [{id: ban, from: CN, to: US}]
)");
    mo.rule(kHome).c("mine_jp", 10).c("mine_cn", 3).w("jp", 12).w("us", 8).solve();
    CHECK_DELIVERED(mo, "jp", 10.0);
    CHECK_DELIVERED(mo, "us", 3.0);
}

TEST_CASE("allocation keys: another rule's keys are refused in a config, ignored when a scenario "
          "switches the rule",
          "[rules][config]") {
    const std::string base = R"(
country_groups: {allies: [US, JP]}
products: [{id: ore}]
facilities: [{id: mine_jp, product: ore, country: JP, capacity: 1}]
demands: [{id: us, product: ore, country: US, quantity: 1}]
)";
    CHECK_THROWS_WITH(load_model_from_string(
                          base + "allocation: {rule: coordinated, blocs: [allies]}\n", "a.yaml"),
                      Catch::Contains("blocs belong to rule home_first"));
    CHECK_THROWS_WITH(load_model_from_string(
                          base + "allocation: {rule: home_first, reference: pooled}\n", "a.yaml"),
                      Catch::Contains("reference belongs to rule proportional"));
    const Model m = load_model_from_string(base + R"(
allocation:
  rule: proportional
  reference: trade_shares
  trade_shares: {ore: {JP: {US: 0.5}}}
scenarios:
  - {id: pooled, set: {allocation/rule: coordinated}}
  - {id: home, set: {allocation/rule: home_first, allocation/blocs: [allies]}}
)",
                                           "a.yaml");
    CHECK(m.allocation.rule == AllocationRule::Proportional);
    REQUIRE(m.scenarios.size() == 2);
    CHECK(m.scenarios[0].model->allocation.rule == AllocationRule::Coordinated);
    CHECK(m.scenarios[1].model->allocation.rule == AllocationRule::HomeFirst);
    CHECK(m.scenarios[1].model->allocation.blocs == std::vector<std::string>{"allies"});
}

TEST_CASE("a month whose needs fit every product's capacity is served in full without an LP",
          "[rules]") {
    // Needs, with the recipes: magnet 4 (+ refill 1) = 5; metal 2 + 0.5 x 5 = 4.5;
    // ore 1 + 1.25 x 4.5 + 0.2 x 5 = 7.625. At exactly those capacities every demand and refill
    // is served in full and no LP is posed, under every rule, with the ban off or on (at
    // leakage 1 it only caps CN's metal to JP at CN's output: the maximum flow of the
    // restricted certificate proves that too); with ore 1e-6 short of its need the LPs decide.
    const std::string yaml = R"(
products:
  - {id: ore}
  - {id: metal, recipe: {ore: 1.25}}
  - {id: magnet, recipe: {metal: 0.5, ore: 0.2}}
facilities:
  - {id: ore_cn, product: ore, country: CN, capacity: 1}
  - {id: ore_au, product: ore, country: AU, capacity: 1}
  - {id: metal_cn, product: metal, country: CN, capacity: 1}
  - {id: magnet_jp, product: magnet, country: JP, capacity: 1}
demands:
  - {id: ore_us, product: ore, country: US, tier: 2, quantity: 1}
  - {id: metal_jp, product: metal, country: JP, tier: 1, quantity: 1}
  - {id: magnet_us, product: magnet, country: US, tier: 1, quantity: 1,
     stockpile: {initial: 1, max_level: 5, refill: 1}}
events:
  - {id: ban, type: export_control, exporters: CN, importers: [JP], products: [metal],
     onset: {active_at_start: true}, duration_months: 12, leakage: 1}
)";
    for (const auto rule :
         {AllocationRule::Coordinated, AllocationRule::HomeFirst, AllocationRule::Proportional}) {
        for (const double ore_short : {0.0, 1e-6}) {
            for (const bool ban : {false, true}) {
                Month mo(yaml);
                mo.rule(rule);
                mo.c("ore_cn", 5.0 - ore_short).c("ore_au", 2.625).c("metal_cn", 4.5);
                mo.c("magnet_jp", 5).w("ore_us", 1).w("metal_jp", 2).w("magnet_us", 4);
                mo.rf("magnet_us", 1).restrict("ban", ban, 1.0);
                Allocator a(mo.m);
                int lps = 0;
                a.set_lp_observer([&](const LinearProgram &, const std::string &) { ++lps; });
                a.solve(mo.input(), mo.out);
                INFO("rule " << static_cast<int>(rule) << ", ore short by " << ore_short << ", ban "
                             << ban);
                CHECK(a.stats().certified == (ore_short == 0 ? 1u : 0u));
                CHECK((lps == 0) == (ore_short == 0));
                if (ore_short == 0) { // served in full, by the certificate or by the LPs
                    CHECK(mo.got("ore_us") == 1.0);
                    CHECK(mo.got("metal_jp") == 2.0);
                    CHECK(mo.got("magnet_us") == 4.0);
                    CHECK(mo.refilled("magnet_us") == 1.0);
                } else { // the refill, the last tier, absorbs the missing ore: tier 2 is served
                    CHECK(mo.got("ore_us") == 1.0);
                    CHECK(mo.got("magnet_us") == 4.0);
                    CHECK(mo.refilled("magnet_us") < 1.0);
                    CHECK(mo.refilled("magnet_us") > 0.99);
                }
                CHECK(mo.bound_nodes() == 0);
            }
        }
    }
}
