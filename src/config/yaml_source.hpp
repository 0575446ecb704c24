// Reading config files: bytes (only regular files, bounded in size), UTF-8, YAML with bounded
// node counts and alias expansion, and includes (each file once, no cycles, from disk or from
// stored texts). Internal to config/.
#pragma once

#include "model/model.hpp"

#include <functional>
#include <string>
#include <vector>
#include <yaml-cpp/yaml.h>

namespace chokepoint::config_detail {

struct ParsedFile {
    std::string path;
    YAML::Node root;
};

/// Throws InputError for `path` (and, when known, its line, column and key).
[[noreturn]] void file_error(const std::string &path, const std::string &msg, int line = 0,
                             int column = 0, const std::string &key = "");
/// Reads a config file; throws InputError naming it, and saying why, when it cannot (only a
/// regular file of at most 64 MiB is read).
std::string read_file(const std::string &path);
/// Parses one file's text (bounded nodes and aliases); throws InputError at the problem.
YAML::Node parse_yaml(const std::string &text, const std::string &path);
std::string canonical(const std::string &path);
/// Reads an included file: from disk, or from the texts stored in a results file.
using FileReader = std::function<std::string(const std::string &)>;
/// Parses `path` and, depth first, the files it includes, into `out` (main first) and their
/// texts into `files`; `stack` detects cycles.
void parse_with_includes(const std::string &path, const std::string &text,
                         std::vector<ParsedFile> &out, std::vector<std::string> &stack,
                         std::vector<ConfigFile> &files, const FileReader &reader);

} // namespace chokepoint::config_detail
