// chokepoint: thin command-line front end; all logic lives in the library.
#include "config.hpp"
#include "run.hpp"
#include "summary_text.hpp"
#include "version.hpp"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>

namespace {
constexpr int kExitOk = 0, kExitRuntime = 1, kExitBadInput = 2;
constexpr const char *kExitCodes =
    "Exit codes: 0 success; 1 runtime failure (I/O, out of memory, internal error); 2 bad input "
    "(config or arguments); 128+N when stopped by signal N (129 SIGHUP, 130 SIGINT, 143 SIGTERM).";

/// Leaves with exit code 1 after a runtime failure, at once (std::_Exit, after flushing the
/// output): after a failed write (disk full) HDF5 1.10 keeps a half-destroyed file in its table of
/// open objects, and its clean-up at exit would crash on it (SIGSEGV; the HDF5 bug behind
/// CVE-2020-10812, fixed upstream in 2023). run_study has already removed the temporary file.
[[noreturn]] void exit_runtime_failure() {
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    std::_Exit(kExitRuntime);
}
} // namespace

int main(int argc, char **argv) {
    using namespace chokepoint;
    CLI::App app{
        "chokepoint: Monte Carlo risk of supply shortfalls in critical-material value chains.\n" +
        std::string(kExitCodes)};
    app.set_version_flag("--version",
                         std::string("chokepoint ") + kVersion + " (" + kGitCommit + ")");
    app.require_subcommand(1);

    std::string config, output, summary_file;
    std::optional<std::uint64_t> trials;
    int threads = 0;
    bool overwrite = false, quiet = false, summary_json = false;
    int summary_top = 5;

    auto *run = app.add_subcommand("run", "Run a study and write its results file (HDF5).");
    run->add_option("config", config, "Config file (YAML)")->required();
    run->add_option("-o,--output", output, "Results file (default: results/<name>.h5)");
    run->add_option("--trials", trials, "Number of trials (overrides run.trials)")
        ->check(CLI::Range(std::uint64_t(1), std::uint64_t(0xFFFFFFFFull)));
    std::string seed_text;
    run->add_option("--seed", seed_text, "Master seed, 0 .. 2^64-1 (overrides run.seed)")
        ->check([](const std::string &v) -> std::string {
            // CLI11 would wrap -1 or 2^64 around silently: accept plain digits in range only.
            if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos)
                return "the seed must be a whole number from 0 to 18446744073709551615";
            errno = 0;
            std::strtoull(v.c_str(), nullptr, 10);
            if (errno == ERANGE)
                return "the seed " + v + " does not fit 64 bits (largest 18446744073709551615)";
            return "";
        });
    run->add_option("--threads", threads, "Worker threads (default: all available)")
        ->check(CLI::Range(1, 1024));
    run->add_flag("--overwrite", overwrite, "Replace an existing results file");
    run->add_flag("-q,--quiet", quiet, "No progress or summary output");
    run->footer(kExitCodes);

    auto *validate =
        app.add_subcommand("validate", "Check a config and print the model it builds.");
    validate->add_option("config", config, "Config file (YAML)")->required();
    validate->footer(kExitCodes);

    auto *summary = app.add_subcommand("summary", "Print the summary of a results file.");
    summary->add_option("file", summary_file, "Results file (HDF5)")->required();
    summary->add_flag("--json", summary_json, "Machine-readable JSON instead of a table");
    summary->add_option("--top", summary_top, "Chokepoints listed per ranking")
        ->check(CLI::Range(1, 1000));
    summary->footer(kExitCodes);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        const int rc = app.exit(e);
        return rc == 0 ? kExitOk : kExitBadInput;
    }

    try {
        if (*validate) {
            const Model m = load_model(config);
            std::cout << describe_model(m) << "config OK: " << config << "\n";
            return kExitOk;
        }
        if (*summary) {
            print_summary(summary_file, std::cout, summary_top, summary_json);
            return kExitOk;
        }
        Model m = load_model(config);
        if (trials)
            m.run.trials = *trials;
        if (!seed_text.empty())
            m.run.seed = std::strtoull(seed_text.c_str(), nullptr, 10);
        RunOptions opt;
        opt.output = output.empty() ? "results/" + m.name + ".h5" : output;
        opt.threads = threads;
        opt.overwrite = overwrite;
        opt.quiet = quiet;
        install_signal_handlers();
        const auto rep = run_study(m, opt);
        if (!quiet) {
            std::cerr << "chokepoint: " << rep.trials << " trials in " << rep.seconds << " s ("
                      << static_cast<std::uint64_t>(rep.trials / std::max(rep.seconds, 1e-9))
                      << " trials/s, " << rep.threads << " threads) -> " << opt.output << "\n";
            if (std::getenv("CHOKEPOINT_STATS"))
                std::cerr << "allocator: " << rep.alloc.solves << " component-months, "
                          << rep.alloc.cache_hits << " repeated, " << rep.alloc.monotone_hits
                          << " monotone, " << rep.alloc.lps << " LPs (" << rep.alloc.warm
                          << " warm), " << rep.alloc.pivots
                          << " pivots; cold: " << rep.alloc.cold_first << " first, "
                          << rep.alloc.cold_changed << " changed, " << rep.alloc.cold_failed
                          << " warm failed\n";
            print_summary(opt.output, std::cout);
        }
        return kExitOk;
    } catch (const InputError &e) {
        std::cerr << e.what() << "\n";
        return kExitBadInput;
    } catch (const Interrupted &e) {
        std::cerr << "chokepoint: " << e.what() << "; no results file written\n";
        return 128 + e.signal();
    } catch (const std::bad_alloc &) {
        std::cerr << "error: out of memory\n";
        exit_runtime_failure();
    } catch (const std::exception &e) {
        std::cerr << "error: " << e.what() << "\n";
        exit_runtime_failure();
    }
}
