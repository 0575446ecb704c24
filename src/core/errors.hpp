// Bad input, reported with where it came from (file, line, column, key path): the vocabulary of
// every layer that reads what a user wrote (configs, arguments, results files).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace chokepoint {

/// One problem found in an input, and where.
struct Diagnostic {
    std::string file;
    int line = 0, column = 0; // 1-based; 0 = unknown
    std::string path;         // key path, e.g. facilities[3].capacity.pert.mode
    std::string message;
    std::string format() const;
};

/// Thrown for bad input (config or arguments); main() maps it to exit code 2.
class InputError : public std::runtime_error {
public:
    explicit InputError(std::vector<Diagnostic> diags);
    explicit InputError(const std::string &message);
    const std::vector<Diagnostic> &diagnostics() const { return diags_; }

private:
    std::vector<Diagnostic> diags_;
};

/// Opens `path` for reading, without blocking, and returns the descriptor if it is a regular
/// file; else throws InputError naming the path, what it is (a directory, a FIFO, a device...)
/// and `what` was expected (e.g. "config file", "results file"). A FIFO never blocks the call.
int open_regular_file(const std::string &path, const std::string &what);

/// Throws, as open_regular_file(), unless `path` is a regular file that can be opened.
void require_regular_file(const std::string &path, const std::string &what);

} // namespace chokepoint
