// Config loading (config.hpp): a valid config builds the expected model; includes merge; bad
// inputs throw InputError whose Diagnostic names the file, the line, the key path and the rule.
#include "config/config.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

using namespace chokepoint;
namespace fs = std::filesystem;

namespace {

// A valid config that exercises every section. Each bad case below edits one line of it.
const std::string kBase = R"(name: base
run: {trials: 100, seed: 7, horizon_months: 24, start: "2027-01", block_size: 50}
country_groups:
  allies: [US, JP]
products:
  - {id: ore, name: Ore}
  - {id: metal, recipe: {ore: 1.25}}
facilities:
  - {id: ore_cn, product: ore, country: CN, capacity: 100}
  - {id: ore_au, product: ore, country: AU, capacity: {pert: {min: 15, mode: 20, max: 25}}}
  - {id: metal_cn, product: metal, country: CN, capacity: 80}
  - {id: metal_us, product: metal, country: US, capacity: 20, availability: {uniform: {min: 0.9, max: 1}}}
demands:
  - {id: us_defense, product: metal, country: US, tier: 1, quantity: 5, stockpile: {initial: 3, max_draw: 0.5}}
  - {id: us_civil, product: metal, country: US, tier: 2, quantity: {lognormal: {median: 20, sigma: 0.2}}, growth: 0.05}
lanes:
  - {id: no_ru, from: RU, to: allies, leakage: 0}
events:
  - {id: cn_ban, type: export_control, exporters: CN, importers: [US], onset: {probability: 0.3, month: 6}, duration_months: 6, leakage: 0.1}
  - {id: flood, type: capacity_shock, targets: {countries: [AU]}, onset: {hazard_per_year: 0.2}, duration_months: 3, fraction_lost: 0.5}
)";

/// kBase with `from` replaced by `to` (which must occur exactly once).
std::string edit(std::string text, const std::string &from, const std::string &to) {
    const auto pos = text.find(from);
    REQUIRE(pos != std::string::npos);
    REQUIRE(text.find(from, pos + 1) == std::string::npos);
    text.replace(pos, from.size(), to);
    return text;
}

/// 1-based number of the line holding the marker " #<" (the line the error must point at), 0 if
/// there is none. The marker is removed before the text is loaded.
int marked_line(const std::string &text) {
    const auto pos = text.find("#<");
    if (pos == std::string::npos)
        return 0;
    return 1 +
           static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(pos), '\n'));
}

struct Bad {
    std::string name, text, path;
    std::vector<std::string> msgs; // substrings the message must contain
};

/// Loads `b.text`; it must throw InputError with a diagnostic for `b.path` whose message has every
/// substring of `b.msgs`, in file "bad.yaml", at the marked line (when the text marks one).
void expect_bad(const Bad &b) {
    const int line = marked_line(b.text);
    std::string text = b.text;
    for (auto pos = text.find(" #<"); pos != std::string::npos; pos = text.find(" #<"))
        text.erase(pos, 3);
    INFO("case: " << b.name << "\n" << text);
    try {
        load_model_from_string(text, "bad.yaml");
        FAIL("no InputError for case " << b.name);
    } catch (const InputError &e) {
        INFO("what(): " << e.what());
        const auto &diags = e.diagnostics();
        REQUIRE(!diags.empty());
        const Diagnostic *d = nullptr;
        for (const auto &x : diags)
            if (x.path == b.path)
                d = &x;
        REQUIRE(d != nullptr); // a diagnostic names the expected key path
        CHECK(d->file == "bad.yaml");
        for (const auto &m : b.msgs) {
            INFO("message '" << d->message << "' should contain '" << m << "'");
            CHECK(d->message.find(m) != std::string::npos);
        }
        if (line > 0) {
            CHECK(d->line == line);
            CHECK(d->column > 0);
            // what() carries file:line:column: path: message
            CHECK(std::string(e.what()).find("bad.yaml:" + std::to_string(line) + ":") !=
                  std::string::npos);
        }
        CHECK(std::string(e.what()).find(b.path) != std::string::npos);
    }
}

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::path(CHOKEPOINT_TEST_TMP) / ("config_test_" + std::to_string(::getpid()));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string write(const std::string &name, const std::string &text) const {
        const auto p = path / name;
        fs::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << text;
        return p.string();
    }
};

int index_of(const std::vector<std::string> &v, const std::string &s) {
    const auto it = std::find(v.begin(), v.end(), s);
    return it == v.end() ? -1 : static_cast<int>(it - v.begin());
}

} // namespace

TEST_CASE("a valid config builds the expected model", "[config]") {
    const Model m = load_model_from_string(kBase, "base.yaml");
    CHECK(m.name == "base");
    CHECK(m.run.trials == 100);
    CHECK(m.run.seed == 7);
    CHECK(m.run.horizon_months == 24);
    CHECK(m.run.start == "2027-01");
    CHECK(m.run.block_size == 50);
    CHECK(m.run.store_monthly);
    CHECK(m.run.quantiles == std::vector<double>{0.05, 0.25, 0.5, 0.75, 0.95, 0.99});
    CHECK(m.products.size() == 2);
    CHECK(m.facilities.size() == 4);
    CHECK(m.demands.size() == 2);
    CHECK(m.events.size() == 2);
    CHECK(m.restrictions.size() == 2); // the lane, then the export control
    CHECK(m.regimes.size() == 1);
    CHECK(m.regimes[0].id == "baseline");
    CHECK(m.factors.empty());
    CHECK(m.n_components == 1);
    CHECK(m.files.size() == 1);
    CHECK(m.files[0].path == "base.yaml");
    CHECK(m.files[0].text == kBase);
    // countries: CN, AU, US, RU, JP (order of first mention is not specified)
    CHECK(m.countries.size() == 5);
    for (const char *c : {"CN", "AU", "US", "RU", "JP"})
        CHECK(index_of(m.countries, c) >= 0);
    // products and recipes
    CHECK(m.products[0].id == "ore");
    CHECK(m.products[0].name == "Ore");
    CHECK(m.products[0].unit == "t");
    CHECK(m.products[0].recipe.empty());
    REQUIRE(m.products[1].recipe.size() == 1);
    CHECK(m.products[1].recipe[0] == std::make_pair(0, 1.25));
    // facilities, nodes
    CHECK(m.facilities[1].id == "ore_au");
    CHECK(m.facilities[1].capacity.kind == Dist::Kind::Pert);
    CHECK(m.facilities[3].availability.kind == Dist::Kind::Uniform);
    CHECK(m.node_names.size() == 4);
    REQUIRE(m.facility_node.size() == 4);
    for (std::size_t f = 0; f < 4; ++f) {
        const auto &fac = m.facilities[f];
        CHECK(m.node_names[static_cast<std::size_t>(m.facility_node[f])] ==
              m.products[static_cast<std::size_t>(fac.product)].id + "@" +
                  m.countries[static_cast<std::size_t>(fac.country)]);
    }
    // demands
    CHECK(m.demands[0].tier == 1);
    CHECK(m.demands[0].has_stockpile);
    CHECK(m.demands[0].stockpile.has_max_draw);
    CHECK(!m.demands[0].stockpile.has_refill);
    CHECK(!m.demands[0].stockpile.has_max_level);
    CHECK(m.demands[1].tier == 2);
    CHECK(!m.demands[1].has_stockpile);
    CHECK(m.demands[1].growth.a == 0.05);
    // restrictions: lane no_ru (RU -> allies = US, JP), then cn_ban (CN -> US)
    const int CN = index_of(m.countries, "CN"), US = index_of(m.countries, "US"),
              JP = index_of(m.countries, "JP"), RU = index_of(m.countries, "RU");
    const auto &lane = m.restrictions[0];
    CHECK(lane.id == "no_ru");
    CHECK(lane.event == -1);
    CHECK(lane.blocks(RU, US, 1));
    CHECK(lane.blocks(RU, JP, 0));
    CHECK(!lane.blocks(CN, US, 1));
    const auto &ban = m.restrictions[1];
    CHECK(ban.id == "cn_ban");
    CHECK(ban.event == 0);
    CHECK(m.events[0].restriction == 1);
    CHECK(ban.blocks(CN, US, 0));
    CHECK(ban.blocks(CN, US, 1));
    CHECK(!ban.blocks(CN, CN, 1)); // a country's shipments to itself are never blocked
    CHECK(!ban.blocks(CN, JP, 1));
    CHECK(m.events[0].type == EventType::ExportControl);
    CHECK(m.events[0].onset == OnsetKind::Probability);
    CHECK(m.events[0].leakage.a == 0.1);
    CHECK(m.events[1].type == EventType::CapacityShock);
    CHECK(m.events[1].onset == OnsetKind::Hazard);
    CHECK(m.events[1].facilities == std::vector<int>{1}); // ore_au
    CHECK(m.events[1].fraction_lost.a == 0.5);
    CHECK(!describe_model(m).empty());
}

TEST_CASE("the shipped configs load", "[config]") {
    const std::string dir = std::string(CHOKEPOINT_SOURCE_DIR) + "/configs";
    int n = 0;
    for (const auto &e : fs::recursive_directory_iterator(dir)) {
        if (e.path().extension() != ".yaml")
            continue;
        INFO(e.path());
        CHECK_NOTHROW(load_model(e.path().string()));
        ++n;
    }
    CHECK(n >= 5);
    const Model tiny = load_model(dir + "/examples/tiny.yaml");
    CHECK(tiny.products.size() == 2);
    CHECK(tiny.facilities.size() == 4);
    CHECK(tiny.demands.size() == 2);
    CHECK(tiny.events.size() == 1);
    CHECK(tiny.restrictions.size() == 1);
    CHECK(tiny.node_names.size() == 4);
    CHECK(tiny.countries.size() == 3);
}

TEST_CASE("includes merge products, facilities, demands; ids stay unique", "[config][include]") {
    TempDir tmp;
    const std::string part = R"(run: {trials: 5}
name: ignored
products:
  - {id: ore}
  - {id: metal, recipe: {ore: 1}}
facilities:
  - {id: ore_cn, product: ore, country: CN, capacity: 100}
include: [more/extra.yaml]
)";
    const std::string extra = R"(facilities:
  - {id: metal_jp, product: metal, country: JP, capacity: 10}
)";
    const std::string main = R"(name: merged
run: {trials: 42}
include: [part.yaml]
facilities:
  - {id: metal_cn, product: metal, country: CN, capacity: 80}
demands:
  - {id: d, product: metal, country: US, quantity: 5}
)";
    tmp.write("part.yaml", part);
    tmp.write("more/extra.yaml", extra);
    const auto main_path = tmp.write("main.yaml", main);
    const Model m = load_model(main_path);
    CHECK(m.name == "merged");
    CHECK(m.run.trials == 42); // included files' run sections are ignored
    CHECK(m.products.size() == 2);
    CHECK(m.facilities.size() == 3);
    CHECK(m.demands.size() == 1);
    std::vector<std::string> ids;
    for (const auto &f : m.facilities)
        ids.push_back(f.id);
    std::sort(ids.begin(), ids.end());
    CHECK(ids == std::vector<std::string>{"metal_cn", "metal_jp", "ore_cn"});
    REQUIRE(m.files.size() == 3);
    CHECK(m.files[0].path == main_path); // main config first
    CHECK(m.files[0].text == main);
    CHECK(fs::equivalent(m.files[1].path, tmp.path / "part.yaml"));
    CHECK(m.files[1].text == part);
    CHECK(fs::equivalent(m.files[2].path, tmp.path / "more" / "extra.yaml"));
    CHECK(m.files[2].text == extra);

    SECTION("a duplicate id across files names the included file") {
        tmp.write("more/extra.yaml", R"(facilities:
  - {id: metal_jp, product: metal, country: JP, capacity: 10}
  - {id: ore_cn, product: ore, country: CN, capacity: 1}
)");
        try {
            load_model(main_path);
            FAIL("duplicate id across files accepted");
        } catch (const InputError &e) {
            INFO(e.what());
            bool found = false;
            for (const auto &d : e.diagnostics())
                if (d.path == "facilities[1].id" &&
                    d.message.find("duplicate facility id 'ore_cn'") != std::string::npos) {
                    found = true;
                    CHECK(fs::equivalent(d.file, tmp.path / "more" / "extra.yaml"));
                    CHECK(d.line == 3);
                }
            CHECK(found);
        }
    }
    SECTION("a missing included file is an error at the include line") {
        const auto p = tmp.write("main2.yaml", "include: [part.yaml, nope.yaml]\n" +
                                                   main.substr(main.find("facilities")));
        try {
            load_model(p);
            FAIL("missing include accepted");
        } catch (const InputError &e) {
            INFO(e.what());
            REQUIRE(e.diagnostics().size() == 1);
            const auto &d = e.diagnostics()[0];
            CHECK(d.path == "include[1]");
            CHECK(d.line == 1);
            CHECK(d.message.find("cannot read included file") != std::string::npos);
            CHECK(d.message.find("nope.yaml") != std::string::npos);
        }
    }
    SECTION("an include cycle is an error") {
        tmp.write("more/extra.yaml", "include: [../part.yaml]\n");
        try {
            load_model(main_path);
            FAIL("include cycle accepted");
        } catch (const InputError &e) {
            CHECK(std::string(e.what()).find("include cycle") != std::string::npos);
        }
    }
    SECTION("included files must agree on regimes unless the main config defines them") {
        tmp.write("r1.yaml", "regimes: [{id: calm, weight: 1}]\nproducts: [{id: x}]\n");
        tmp.write("r2.yaml", "regimes: [{id: war, weight: 1}]\nproducts: [{id: y}]\n");
        const std::string body = R"(facilities:
  - {id: f, product: x, country: CN, capacity: 1}
demands:
  - {id: d, product: x, country: CN, quantity: 1}
)";
        const auto bad = tmp.write("reg_bad.yaml", "include: [r1.yaml, r2.yaml]\n" + body);
        try {
            load_model(bad);
            FAIL("conflicting regimes accepted");
        } catch (const InputError &e) {
            INFO(e.what());
            bool found = false;
            for (const auto &d : e.diagnostics())
                found = found || (d.path == "regimes" &&
                                  d.message.find("define the regimes in the main config") !=
                                      std::string::npos);
            CHECK(found);
        }
        const auto good =
            tmp.write("reg_good.yaml", "include: [r1.yaml, r2.yaml]\nregimes: [{id: a, weight: 1}, "
                                       "{id: b, weight: 3}]\n" +
                                           body);
        const Model m2 = load_model(good);
        REQUIRE(m2.regimes.size() == 2);
        CHECK(m2.regimes[1].id == "b");
        CHECK(m2.regimes[1].weight == 3);
    }
}

TEST_CASE("bad configs: InputError with key path, rule and line", "[config][bad]") {
    const std::vector<Bad> cases = {
        {"unknown key with did-you-mean",
         edit(kBase, "availability: {uniform: {min: 0.9, max: 1}}}",
              "availabilty: {uniform: {min: 0.9, max: 1}}} #<"),
         "facilities[3].availabilty",
         {"unknown key 'availabilty'", "did you mean 'availability'"}},
        {"unknown distribution parameter with did-you-mean",
         edit(kBase, "{lognormal: {median: 20, sigma: 0.2}}",
              "{lognormal: {median: 20, sigma: 0.2, sigam: 1}} #<"),
         "demands[1].quantity.lognormal.sigam",
         {"unknown key 'sigam'", "did you mean 'sigma'"}},
        {"unknown top-level key",
         edit(kBase, "facilities:\n", "fascilities: [] #<\nfacilities:\n"),
         "fascilities",
         {"unknown key 'fascilities'", "did you mean 'facilities'"}},
        {"wrong type: trials not a number",
         edit(kBase, "run: {trials: 100,", "run: {trials: abc, #<\n     "),
         "run.trials",
         {"expected a whole number", "'abc'"}},
        {"wrong type: quantity not a number",
         edit(kBase, "tier: 1, quantity: 5,", "tier: 1, quantity: lots, #<\n   "),
         "demands[0].quantity",
         {"expected a finite number", "'lots'"}},
        {"wrong type: a list where a map is expected",
         edit(kBase, "  - {id: ore, name: Ore}", "  - [ore, Ore] #<"),
         "products[0]",
         {"expected a map"}},
        {"pert mode outside [min, max]",
         edit(kBase, "{pert: {min: 15, mode: 20, max: 25}}",
              "{pert: {min: 15, mode: 30, max: 25}} #<"),
         "facilities[1].capacity.pert",
         {"need min <= mode <= max", "mode 30"}},
        {"lognormal sigma <= 0",
         edit(kBase, "{lognormal: {median: 20, sigma: 0.2}}",
              "{lognormal: {median: 20, sigma: 0}} #<"),
         "demands[1].quantity.lognormal.sigma",
         {"must be > 0"}},
        {"normal sd < 0",
         edit(kBase, "capacity: 100}", "capacity: {normal: {mean: 100, sd: -3}}} #<"),
         "facilities[0].capacity.normal.sd",
         {"must be > 0"}},
        {"onset probability > 1",
         edit(kBase, "onset: {probability: 0.3, month: 6}",
              "onset: {probability: 1.5, month: 6} #<"),
         "events[0].onset.probability",
         {"must lie in [0, 1]"}},
        {"bernoulli p > 1",
         edit(kBase, "availability: {uniform: {min: 0.9, max: 1}}",
              "availability: {bernoulli: {p: 1.2}} #<"),
         "facilities[3].availability.bernoulli.p",
         {"probability 1.2 must lie in [0, 1]"}},
        {"discrete weights summing to 0",
         edit(kBase, "capacity: 100}",
              "capacity: {discrete: {values: [1, 2], weights: [0, 0]}}} #<"),
         "facilities[0].capacity.discrete.weights",
         {"must sum to a positive number"}},
        {"regime weights summing to 0",
         edit(kBase, "products:\n",
              "regimes: [{id: calm, weight: 0}, {id: war, weight: 0}] #<\nproducts:\n"),
         "regimes",
         {"must sum to a positive number"}},
        {"negative capacity",
         edit(kBase, "country: CN, capacity: 80}", "country: CN, capacity: -80} #<"),
         "facilities[2].capacity",
         {"must not be negative"}},
        {"unknown product reference with did-you-mean",
         edit(kBase, "{id: us_defense, product: metal,", "{id: us_defense, product: metl, #<\n   "),
         "demands[0].product",
         {"unknown product 'metl'", "did you mean 'metal'"}},
        {"recipe cycle",
         edit(edit(kBase, "{id: ore, name: Ore}", "{id: ore, name: Ore, recipe: {metal: 1}}"),
              "{id: metal, recipe: {ore: 1.25}}", "{id: metal, recipe: {ore: 1.25}} #<"),
         "products[1].recipe",
         {"recipe cycle", "ore -> metal -> ore"}},
        {"recipe input of itself",
         edit(kBase, "{id: metal, recipe: {ore: 1.25}}", "{id: metal, recipe: {metal: 1}} #<"),
         "products[1].recipe.metal",
         {"cannot be an input of its own recipe"}},
        {"recipe coefficient <= 0",
         edit(kBase, "{id: metal, recipe: {ore: 1.25}}", "{id: metal, recipe: {ore: -1}} #<"),
         "products[1].recipe.ore",
         {"must be > 0"}},
        {"demand for a product no facility makes",
         edit(edit(kBase, "  - {id: ore, name: Ore}\n",
                   "  - {id: ore, name: Ore}\n  - {id: alloy}\n"),
              "demands:\n",
              "demands:\n  - {id: al, product: alloy, country: US, quantity: 1} #<\n"),
         "demands[0].product",
         {"no facility makes product 'alloy'"}},
        {"duplicate facility id",
         edit(kBase, "{id: metal_us, product: metal,", "{id: metal_cn, product: metal, #<\n    "),
         "facilities[3].id",
         {"duplicate facility id 'metal_cn'"}},
        {"event id equal to a lane id",
         edit(kBase, "{id: flood, type: capacity_shock,",
              "{id: no_ru, type: capacity_shock, #<\n    "),
         "events[1].id",
         {"already a lane id"}},
        {"onset month beyond the horizon",
         edit(kBase, "onset: {probability: 0.3, month: 6}",
              "onset: {probability: 0.3, month: 30} #<"),
         "events[0].onset.month",
         {"never inside the horizon", "24"}},
        {"two onset forms",
         edit(kBase, "onset: {hazard_per_year: 0.2}",
              "onset: {hazard_per_year: 0.2, active_at_start: true} #<"),
         "events[1].onset",
         {"exactly one onset form"}},
        {"export-control leakage > 1",
         edit(kBase, "duration_months: 6, leakage: 0.1}", "duration_months: 6, leakage: 1.5} #<"),
         "events[0].leakage",
         {"must lie in [0, 1]"}},
        {"lane leakage > 1",
         edit(kBase, "to: allies, leakage: 0}", "to: allies, leakage: 2} #<"),
         "lanes[0].leakage",
         {"leakage 2 must lie in [0, 1]"}},
        {"fraction_lost > 1",
         edit(kBase, "fraction_lost: 0.5}", "fraction_lost: 1.5} #<"),
         "events[1].fraction_lost",
         {"must lie in [0, 1]"}},
        {"trials 0",
         edit(kBase, "run: {trials: 100,", "run: {trials: 0, #<\n     "),
         "run.trials",
         {"out of range", "[1,"}},
        {"seed that overflows 64 bits",
         edit(kBase, "seed: 7,", "seed: 18446744073709551616, #<\n     "),
         "run.seed",
         {"out of range", "18446744073709551615"}},
        {"negative seed",
         edit(kBase, "seed: 7,", "seed: -1, #<\n     "),
         "run.seed",
         {"expected a whole number"}},
        {"horizon 0",
         edit(kBase, "horizon_months: 24,", "horizon_months: 0, #<\n     "),
         "run.horizon_months",
         {"out of range"}},
        {"start not YYYY-MM",
         edit(kBase, "start: \"2027-01\",", "start: \"2027-13\", #<\n    "),
         "run.start",
         {"YYYY-MM"}},
        {"quantile level outside (0, 1)",
         edit(kBase, "block_size: 50}", "block_size: 50, quantiles: [0.5, 1.5]} #<"),
         "run.quantiles[1]",
         {"must lie in (0, 1)"}},
        {"unknown distribution with did-you-mean",
         edit(kBase, "{pert: {min: 15, mode: 20, max: 25}}",
              "{pertt: {min: 15, mode: 20, max: 25}} #<"),
         "facilities[1].capacity.pertt",
         {"unknown distribution 'pertt'", "did you mean 'pert'"}},
        {"uniform min > max",
         edit(kBase, "{uniform: {min: 0.9, max: 1}}", "{uniform: {min: 1, max: 0.9}} #<"),
         "facilities[3].availability.uniform",
         {"need min <= max"}},
        {"availability > 1",
         edit(kBase, "{uniform: {min: 0.9, max: 1}}", "1.2} #<\n#"),
         "facilities[3].availability",
         {"must lie in [0, 1]"}},
        {"growth below -1",
         edit(kBase, "growth: 0.05}", "growth: -2} #<"),
         "demands[1].growth",
         {"must be >= -1"}},
        {"tier 0",
         edit(kBase, "tier: 1,", "tier: 0, #<\n   "),
         "demands[0].tier",
         {"out of range"}},
        {"lower-case country code",
         edit(kBase, "{id: ore_cn, product: ore, country: CN,",
              "{id: ore_cn, product: ore, country: cn, #<\n   "),
         "facilities[0].country",
         {"'cn' is not a country code"}},
        {"unknown facility in shock targets",
         edit(kBase, "targets: {countries: [AU]}", "targets: {facilities: [ore_xx]} #<\n   "),
         "events[1].targets.facilities[0]",
         {"unknown facility 'ore_xx'", "did you mean"}},
        {"unknown event type",
         edit(kBase, "type: capacity_shock,", "type: earthquake, #<\n   "),
         "events[1].type",
         {"unknown event type 'earthquake'"}},
        {"lognormal given two ways",
         edit(kBase, "{lognormal: {median: 20, sigma: 0.2}}",
              "{lognormal: {median: 20, sigma: 0.2, mean: 3}} #<"),
         "demands[1].quantity.lognormal",
         {"not both"}},
        {"duplicate key in a map",
         edit(kBase, "{id: ore_cn, product: ore, country: CN, capacity: 100}",
              "{id: ore_cn, product: ore, country: CN, capacity: 100, capacity: 5} #<"),
         "facilities[0].capacity",
         {"duplicate key 'capacity'"}},
    };
    CHECK(cases.size() >= 20);
    for (const auto &b : cases) {
        SECTION(b.name) {
            expect_bad(b);
        }
    }
}

TEST_CASE("a missing required key is an InputError naming its path and its entry's line",
          "[config][bad]") {
    // Regression: a missing required key whose value is a distribution, a map or a country set
    // (capacity, quantity, duration_months, onset, exporters, ...) once threw yaml-cpp's
    // InvalidNode (exit 1, no file, line or path). A mistyped required key (capacty: 80) took the
    // same path. It must be an InputError for the key path, at the line of the entry lacking it.
    struct Missing {
        const char *name, *from, *to, *path, *entry_at;
    };
    const Missing cases[] = {
        {"facility capacity", "{id: metal_cn, product: metal, country: CN, capacity: 80}",
         "{id: metal_cn, product: metal, country: CN}", "facilities[2].capacity", "{id: metal_cn,"},
        {"mistyped facility capacity", "{id: metal_cn, product: metal, country: CN, capacity: 80}",
         "{id: metal_cn, product: metal, country: CN, capacty: 80}", "facilities[2].capacity",
         "{id: metal_cn,"},
        {"demand quantity", "tier: 1, quantity: 5, ", "tier: 1, ", "demands[0].quantity",
         "{id: us_defense,"},
        {"event duration", "duration_months: 3, fraction_lost: 0.5}", "fraction_lost: 0.5}",
         "events[1].duration_months", "{id: flood,"},
        {"event onset", "onset: {hazard_per_year: 0.2}, ", "", "events[1].onset", "{id: flood,"},
        {"export-control exporters", "exporters: CN, ", "", "events[0].exporters", "{id: cn_ban,"},
        {"stockpile initial", "stockpile: {initial: 3, max_draw: 0.5}",
         "stockpile: {max_draw: 0.5}", "demands[0].stockpile.initial", "{id: us_defense,"},
        {"facility product", "{id: ore_cn, product: ore, country: CN,", "{id: ore_cn, country: CN,",
         "facilities[0].product", "{id: ore_cn,"},
        {"facility id", "{id: ore_cn, product: ore, country: CN,", "{product: ore, country: CN,",
         "facilities[0].id", "{product: ore, country: CN,"},
    };
    for (const auto &c : cases) {
        SECTION(c.name) {
            const std::string text = edit(kBase, c.from, c.to);
            const auto at = text.find(c.entry_at);
            REQUIRE(at != std::string::npos);
            const int entry_line =
                1 + static_cast<int>(
                        std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
            INFO(text);
            try {
                load_model_from_string(text, "bad.yaml");
                FAIL("missing key accepted");
            } catch (const InputError &e) {
                INFO(e.what());
                const Diagnostic *d = nullptr;
                for (const auto &x : e.diagnostics())
                    if (x.path == c.path)
                        d = &x;
                REQUIRE(d != nullptr);
                CHECK(d->line == entry_line);
            } catch (const std::exception &e) {
                FAIL("not an InputError: " << e.what());
            }
        }
    }
}

TEST_CASE("all errors of a config are reported at once", "[config][bad]") {
    std::string text = edit(kBase, "country: CN, capacity: 80}", "country: CN, capacity: -80}");
    text =
        edit(text, "{lognormal: {median: 20, sigma: 0.2}}", "{lognormal: {median: 20, sigma: 0}}");
    text = edit(text, "to: allies, leakage: 0}", "to: allies, leakage: 2}");
    try {
        load_model_from_string(text, "bad.yaml");
        FAIL("accepted");
    } catch (const InputError &e) {
        std::vector<std::string> paths;
        for (const auto &d : e.diagnostics())
            paths.push_back(d.path);
        INFO(e.what());
        CHECK(index_of(paths, "facilities[2].capacity") >= 0);
        CHECK(index_of(paths, "demands[1].quantity.lognormal.sigma") >= 0);
        CHECK(index_of(paths, "lanes[0].leakage") >= 0);
    }
}

TEST_CASE("tab indentation is refused with its line and column", "[config][bad]") {
    const std::string text = edit(kBase, "  allies: [US, JP]", "\tallies: [US, JP]");
    try {
        load_model_from_string(text, "tabs.yaml");
        FAIL("tab accepted");
    } catch (const InputError &e) {
        REQUIRE(e.diagnostics().size() == 1);
        const auto &d = e.diagnostics()[0];
        CHECK(d.file == "tabs.yaml");
        CHECK(d.line == 4);
        CHECK(d.column == 1);
        CHECK(d.message.find("tab") != std::string::npos);
    }
}

TEST_CASE("YAML syntax errors carry a line", "[config][bad]") {
    const std::string text = edit(kBase, "  - {id: ore, name: Ore}", "  - {id: ore, name: Ore");
    try {
        load_model_from_string(text, "syntax.yaml");
        FAIL("syntax error accepted");
    } catch (const InputError &e) {
        REQUIRE(e.diagnostics().size() == 1);
        CHECK(e.diagnostics()[0].message.find("YAML syntax error") != std::string::npos);
        CHECK(e.diagnostics()[0].line >= 6);
    }
}

TEST_CASE("empty, blank, non-map, binary and missing files are refused", "[config][bad]") {
    for (const std::string text : {"", "\n\n", "# only a comment\n"}) {
        INFO("text: '" << text << "'");
        try {
            load_model_from_string(text, "empty.yaml");
            FAIL("empty config accepted");
        } catch (const InputError &e) {
            CHECK(std::string(e.what()).find("empty config") != std::string::npos);
            CHECK(std::string(e.what()).find("empty.yaml") != std::string::npos);
        }
    }
    try {
        load_model_from_string("- a\n- b\n", "list.yaml");
        FAIL("a list at top level accepted");
    } catch (const InputError &e) {
        CHECK(std::string(e.what()).find("expected a map of sections") != std::string::npos);
    }
    {
        std::string bin = "\x7f"
                          "ELF";
        bin += std::string("\0\0\x01\x02", 4);
        bin += "products: []\n";
        try {
            load_model_from_string(bin, "binary.yaml");
            FAIL("binary accepted");
        } catch (const InputError &e) {
            CHECK(std::string(e.what()).find("not a text file") != std::string::npos);
            CHECK(std::string(e.what()).find("binary.yaml") != std::string::npos);
        }
    }
    {
        TempDir tmp;
        std::string bin(64, '\0');
        for (int i = 0; i < 64; ++i)
            bin[static_cast<std::size_t>(i)] = static_cast<char>(i * 7);
        const auto p = tmp.write("binary.h5", bin);
        try {
            load_model(p);
            FAIL("binary file accepted");
        } catch (const InputError &e) {
            CHECK(std::string(e.what()).find("not a text file") != std::string::npos);
        }
        try {
            load_model(tmp.path.string());
            FAIL("directory accepted");
        } catch (const InputError &e) {
            CHECK(std::string(e.what()).find("is a directory") != std::string::npos);
        }
    }
    const std::string missing = std::string(CHOKEPOINT_TEST_TMP) + "/no/such/config.yaml";
    try {
        load_model(missing);
        FAIL("missing file accepted");
    } catch (const InputError &e) {
        CHECK(std::string(e.what()).find("cannot open config file") != std::string::npos);
        CHECK(std::string(e.what()).find(missing) != std::string::npos);
    }
}

TEST_CASE("config edge values that are valid", "[config]") {
    // seed 0 and 2^64 - 1 are ordinary seeds; horizon 1200 is the maximum
    auto m =
        load_model_from_string(edit(kBase, "seed: 7,", "seed: 18446744073709551615,"), "ok.yaml");
    CHECK(m.run.seed == 18446744073709551615ull);
    m = load_model_from_string(edit(kBase, "seed: 7,", "seed: 0,"), "ok.yaml");
    CHECK(m.run.seed == 0);
    m = load_model_from_string(edit(kBase, "horizon_months: 24,", "horizon_months: 1200,"),
                               "ok.yaml");
    CHECK(m.run.horizon_months == 1200);
    // quantiles are sorted, without duplicates, and always hold the median
    m = load_model_from_string(
        edit(kBase, "block_size: 50}", "block_size: 50, quantiles: [0.9, 0.1, 0.9]}"), "ok.yaml");
    CHECK(m.run.quantiles == std::vector<double>{0.1, 0.5, 0.9});
    m = load_model_from_string(
        edit(kBase, "block_size: 50}", "block_size: 50, quantiles: [0.5, 0.25]}"), "ok.yaml");
    CHECK(m.run.quantiles == std::vector<double>{0.25, 0.5});
    // name defaults to the file stem
    m = load_model_from_string(edit(kBase, "name: base\n", ""), "/some/where/my_study.yaml");
    CHECK(m.name == "my_study");
}

TEST_CASE("a scenario's remove leaves the next scenarios' entries as they are", "[config]") {
    // Removing an entry that is not the last one used to shift the kept entries by assignment,
    // and YAML::Node::operator= wrote into the baseline's parsed entries: the next scenario saw
    // the last event twice ("duplicate event id 'e4'").
    const char *yaml = R"(
products: [{id: m}]
facilities:
  - {id: cn, product: m, country: CN, capacity: 100}
demands:
  - {id: us, product: m, country: US, quantity: 10}
events:
  - {id: e1, type: export_control, exporters: CN, importers: [US], onset: {active_at_start: true}, duration_months: 3}
  - {id: e2, type: export_control, exporters: CN, importers: [US], onset: {active_at_start: true}, duration_months: 3, leakage: 0.2}
  - {id: e3, type: export_control, exporters: CN, importers: [US], onset: {active_at_start: true}, duration_months: 3}
  - {id: e4, type: export_control, exporters: CN, importers: [US], onset: {active_at_start: true}, duration_months: 3}
scenarios:
  - id: a
    remove: {events: [e2, e3]}
  - id: b
    add:
      events:
        - {id: e5, type: export_control, exporters: CN, importers: [US], onset: {active_at_start: true}, duration_months: 3}
)";
    Model m;
    REQUIRE_NOTHROW(m = load_model_from_string(yaml, "scenarios.yaml"));
    auto ids = [](const Model &x) {
        std::vector<std::string> v;
        for (const auto &e : x.events)
            v.push_back(e.id);
        return v;
    };
    REQUIRE(m.scenarios.size() == 2);
    CHECK(ids(m) == std::vector<std::string>{"e1", "e2", "e3", "e4"});
    CHECK(ids(*m.scenarios[0].model) == std::vector<std::string>{"e1", "e4"});
    CHECK(ids(*m.scenarios[1].model) == std::vector<std::string>{"e1", "e2", "e3", "e4", "e5"});
    // the entries keep their own content, not a shifted neighbour's
    CHECK(m.scenarios[1].model->events[1].id == "e2");
}

TEST_CASE("a country that names nobody is reported as a warning, with its place", "[config]") {
    // A typo in an export control's exporters (CHN for CN) made the control restrict nothing,
    // silently. Codes written directly that no facility or demand has (in the baseline or any
    // scenario) are warnings naming file, line and key path; group members, and codes a
    // scenario places, are not (groups list allies beyond a model).
    const char *yaml = R"(
country_groups:
  allies: [JP, KR, US]
products: [{id: m}]
facilities:
  - {id: cn, product: m, country: CN, capacity: 100}
demands:
  - {id: us, product: m, country: US, quantity: 10}
lanes:
  - {id: l1, from: allies, to: {all_except: [USA]}, products: [m], leakage: 0.5}
events:
  - {id: e1, type: export_control, exporters: [CHN, CN], importers: allies, onset: {active_at_start: true}, duration_months: 3}
  - {id: e2, type: export_control, exporters: CA, importers: [US], onset: {active_at_start: true}, duration_months: 3}
  - {id: s1, type: capacity_shock, targets: {countries: [ZZ]}, onset: {active_at_start: true}, duration_months: 3, fraction_lost: 0.5}
scenarios:
  - id: canada
    add:
      facilities:
        - {id: ca, product: m, country: CA, capacity: 5}
)";
    Model m;
    REQUIRE_NOTHROW(m = load_model_from_string(yaml, "w.yaml"));
    std::vector<std::string> got;
    for (const auto &d : m.warnings) {
        CHECK(d.file == "w.yaml");
        CHECK(d.column > 0);
        got.push_back(std::to_string(d.line) + " " + d.path + " " + d.message);
    }
    std::sort(got.begin(), got.end());
    REQUIRE(got.size() == 3);
    CHECK(got[0].rfind("10 lanes[0].to.all_except[0] country 'USA'", 0) == 0);
    CHECK(got[0].find("(did you mean 'US'?)") != std::string::npos);
    CHECK(got[1].rfind("12 events[0].exporters[0] country 'CHN' has no facility or demand", 0) ==
          0);
    CHECK(got[1].find("(did you mean 'CN'?)") != std::string::npos);
    CHECK(got[2].rfind("14 events[2].targets.countries[0] country 'ZZ'", 0) == 0);
    // the shipped configs carry none
    for (const char *f :
         {"configs/critical_materials.yaml", "configs/gallium.yaml", "configs/ndfeb.yaml",
          "configs/samarium_cobalt.yaml", "configs/examples/tiny.yaml"}) {
        INFO(f);
        CHECK(load_model(std::string(CHOKEPOINT_SOURCE_DIR) + "/" + f).warnings.empty());
    }
}
