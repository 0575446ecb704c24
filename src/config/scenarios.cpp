// Scenarios (config `scenarios:`): set, add and remove applied as an overlay of the baseline's
// files, each scenario built like any config, its errors placed at the scenario's keys.
#include "config/build.hpp"

namespace chokepoint::config_detail {

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
        std::set<std::pair<std::string, std::size_t>> cloned;  // (section, entry) copied already
        std::set<std::pair<std::string, std::string>> set_ids; // (section, id) a set: edits
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
                // (An empty key has no parts: it fails the key path check below.)
                if (!parts.empty() && parts[0] == "allocation" && parts.size() >= 2 &&
                    key.back() != '/' &&
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
                set_ids.emplace(parts[0], parts[1]);
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
                    if (set_ids.count({sec, idn.Scalar()}))
                        fail(idn, kp + "[" + std::to_string(i) + "]",
                             "the scenario both removes " + sec + " entry " + quote(idn.Scalar()) +
                                 " and sets a key of it (set: " + sec + "/" + idn.Scalar() +
                                 "/...); keep one of the two");
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

} // namespace chokepoint::config_detail
