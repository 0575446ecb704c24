// Building a model from parsed config files; scenarios. Internal to config/.
#pragma once

#include "config/loader.hpp"

namespace chokepoint::config_detail {

/// The items of list section `key` of every file, main first.
std::vector<Item> section(Loader &L, const std::vector<ParsedFile> &files, const char *key);
/// Builds the model of `files` (main first); with `ov`, a scenario's model. Throws InputError.
Model build(const std::vector<ParsedFile> &files, std::vector<ConfigFile> texts,
            const Overlay *ov = nullptr);
/// Builds the scenarios of `m` (config `scenarios:`) into m.scenarios. Throws InputError.
void add_scenarios(Model &m, const std::vector<ParsedFile> &files);

} // namespace chokepoint::config_detail
