// chokepoint: thin command-line front end; all logic lives in the library.
#include "cli/diagnostics.hpp"
#include "cli/summary_text.hpp"
#include "config/config.hpp"
#include "io/output.hpp"
#include "study/comm.hpp"
#include "study/importance.hpp"
#include "study/run.hpp"
#include "version.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

namespace {
constexpr int kExitOk = 0, kExitRuntime = 1, kExitBadInput = 2, kExitCheckpointed = 75;
constexpr const char *kExitCodes =
    "Exit codes: 0 success; 1 runtime failure (I/O, out of memory, internal error); 2 bad input "
    "(config or arguments); 75 stopped by a signal (INT, TERM, HUP, USR1) with a checkpoint saved "
    "(continue it with `chokepoint run --resume OUT.checkpoint`); 128+N stopped by signal N "
    "without a checkpoint (129 SIGHUP, 130 SIGINT, 138 SIGUSR1, 143 SIGTERM).";

std::unique_ptr<chokepoint::Comm> g_comm;

/// Floating-point options must be finite numbers: CLI11's ranges let NaN through (every
/// comparison with NaN is false), and `--target-se inf` would never stop.
const CLI::Validator kFinite(
    [](std::string &v) -> std::string {
        char *end = nullptr;
        const double x = std::strtod(v.c_str(), &end);
        if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(x))
            return "expected a finite number, got '" + v + "'";
        return "";
    },
    "FINITE");

/// Whether `v` is one or more decimal digits and nothing else (no sign, no spaces): what the
/// whole-number options accept before converting (CLI11 would wrap "-1" around).
bool all_digits(const std::string &v) {
    return !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
}

/// `--seed`: a whole number that fits 64 bits.
std::string check_seed(const std::string &v) {
    if (!all_digits(v))
        return "the seed must be a whole number from 0 to 18446744073709551615";
    errno = 0;
    std::strtoull(v.c_str(), nullptr, 10);
    return errno == ERANGE
               ? "the seed " + v + " does not fit 64 bits (largest 18446744073709551615)"
               : "";
}

/// `--shard K/N`: two whole numbers in decimal digits, 1 <= K <= N <= 1,000,000 (no sign, no
/// spaces, nothing after N); nullopt otherwise. (sscanf's %d wrapped 4294967297 to 1.)
std::optional<std::pair<int, int>> parse_shard(const std::string &v) {
    const auto slash = v.find('/');
    if (slash == std::string::npos)
        return std::nullopt;
    auto number = [](const std::string &t) -> long {
        return t.size() <= 7 && all_digits(t) ? std::stol(t) : -1;
    };
    const long k = number(v.substr(0, slash)), n = number(v.substr(slash + 1));
    if (n < 1 || n > 1000000 || k < 1 || k > n)
        return std::nullopt;
    return std::pair<int, int>{static_cast<int>(k), static_cast<int>(n)};
}

/// A trial count: a whole number from 1 to 2^32 - 1, written as digits (20000, 20_000) or in
/// scientific notation with a whole value (1e4, 2.5e5). `trials` is set when `v` is valid.
std::string parse_trial_count(const std::string &v, std::uint64_t &trials) {
    const std::string why = "expected a whole number of trials from 1 to 4294967295 (e.g. 20000, "
                            "20_000 or 2e4), got '" +
                            v + "'";
    std::string digits;
    for (char c : v)
        if (c != '_')
            digits += c;
    if (digits.empty() || v.front() == '_' || v.back() == '_')
        return why;
    if (digits.find_first_not_of("0123456789") == std::string::npos) {
        if (digits.size() > 10)
            return why;
        const auto x = std::strtoull(digits.c_str(), nullptr, 10);
        if (x < 1 || x > 0xFFFFFFFFull)
            return why;
        trials = x;
        return "";
    }
    // Scientific notation: mantissa digits with at most one '.', then e/E and a small exponent.
    const auto e = digits.find_first_of("eE");
    if (e == std::string::npos || e == 0 || e + 1 == digits.size() ||
        digits.find_first_not_of("0123456789.") < e ||
        std::count(digits.begin(), digits.begin() + static_cast<std::ptrdiff_t>(e), '.') > 1 ||
        digits.find_first_not_of("0123456789", e + 1 + (digits[e + 1] == '+')) != std::string::npos)
        return why;
    char *end = nullptr;
    const double x = std::strtod(digits.c_str(), &end);
    if (end != digits.c_str() + digits.size() || !std::isfinite(x) || x < 1 || x > 4294967295.0 ||
        x != std::floor(x))
        return why +
               (std::isfinite(x) && x >= 1 && x != std::floor(x) ? " (not a whole number)" : "");
    trials = static_cast<std::uint64_t>(x);
    return "";
}

/// Leaves with `code` on every rank of an MPI run (a failure on one rank would leave the others
/// waiting for it), or returns it.
int leave(int code) {
    if (code != kExitOk && g_comm && g_comm->size() > 1)
        g_comm->abort(code);
    return code;
}

/// Leaves with `code` (1 after a runtime failure) at once (std::_Exit, after flushing the
/// output): after a failed write (disk full) HDF5 1.10 keeps a half-destroyed file in its table of
/// open objects, and its clean-up at exit would crash on it (SIGSEGV; the HDF5 bug behind
/// CVE-2020-10812, fixed upstream in 2023). run_study has already removed the temporary file.
[[noreturn]] void exit_runtime_failure(int code = kExitRuntime) {
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    if (g_comm && g_comm->size() > 1)
        g_comm->abort(code);
    std::_Exit(code);
}
} // namespace

int main(int argc, char **argv) {
    using namespace chokepoint;
    try {
        g_comm = make_comm(&argc, &argv); // MPI, when started by mpirun/srun
    } catch (const std::exception &e) {
        std::cerr << "error: " << e.what() << "\n";
        return kExitRuntime;
    }
    const bool rank0 = !g_comm || g_comm->rank() == 0;
    CLI::App app{
        "chokepoint: Monte Carlo risk of supply shortfalls in critical-material value chains.\n" +
        std::string(kExitCodes)};
    app.set_version_flag("--version",
                         std::string("chokepoint ") + kVersion + " (" + kGitCommit + ")");
    app.require_subcommand(1);

    std::string config, output, summary_file;
    std::optional<std::uint64_t> trials;
    int threads = 0;
    bool overwrite = false, quiet = false;
    SummaryOptions summary_opt;

    auto *run = app.add_subcommand("run", "Run a study and write its results file (HDF5).");
    std::string resume, shard_text, log_format = "auto";
    std::vector<std::string> scenario_ids;
    bool store_inputs = false;
    std::optional<double> target_se;
    double checkpoint_every = 300, progress_every = 30;
    auto *run_config = run->add_option("config", config, "Config file (YAML)");
    run->add_option(
        "-o,--output", output,
        "Results file (default: results/<config file stem>.h5, as scripts/run.sh names it; "
        "with --resume, the checkpoint's "
        "path without '.checkpoint')");
    auto trials_option = [&trials](const std::string &v) {
        std::uint64_t n = 0;
        const std::string why = parse_trial_count(v, n);
        if (!why.empty())
            throw CLI::ValidationError("--trials", why);
        trials = n;
        return true;
    };
    run->add_option_function<std::string>(
           "--trials", [&](const std::string &v) { trials_option(v); },
           "Number of trials, e.g. 20000, 20_000 or 2e4 (overrides run.trials)")
        ->type_name("N");
    std::string seed_text;
    run->add_option("--seed", seed_text, "Master seed, 0 .. 2^64-1 (overrides run.seed)")
        ->check(check_seed); // CLI11 would wrap -1 or 2^64 around silently
    run->add_option("--threads", threads, "Worker threads (default: all available)")
        ->check(CLI::Range(1, 1024));
    run->add_flag("--overwrite", overwrite,
                  "Replace an existing results file (and a stale checkpoint)");
    run->add_flag("-q,--quiet", quiet, "No progress or summary output");
    auto *resume_opt =
        run->add_option("--resume", resume,
                        "Continue the checkpoint FILE of an interrupted run (config, seed, trials "
                        "and shard come from it; give no CONFIG)");
    run_config->excludes(resume_opt);
    bool allow_version_change = false;
    run->add_flag("--allow-version-change", allow_version_change,
                  "With --resume: finish a checkpoint written by another version of chokepoint "
                  "(e.g. after an upgrade that fixed what stopped it); the file records it");
    run->add_option("--shard", shard_text,
                    "Run only the K-th of N slices of the trial blocks (K/N, K in 1..N); combine "
                    "the N files with `chokepoint merge`")
        ->check([](const std::string &v) -> std::string {
            return parse_shard(v) ? ""
                                  : "expected K/N with 1 <= K <= N <= 1000000 (e.g. 3/8), "
                                    "got '" +
                                        v + "'";
        });
    run->add_option("--scenario", scenario_ids,
                    "Run only this scenario of the config (repeatable; the baseline always runs)");
    run->add_flag("--store-inputs", store_inputs,
                  "Store every trial's sampled inputs, labelled by name (for sensitivity work)");
    run->add_option("--target-se", target_se,
                    "Stop when the standard error of run.stop_when's statistic is below this "
                    "(overrides its se_below or relative_se_below)")
        ->check(kFinite)
        ->check(CLI::Validator(
            [](std::string &v) -> std::string {
                return std::strtod(v.c_str(), nullptr) > 0
                           ? ""
                           : "expected a number > 0, got '" + v + "'";
            },
            "POSITIVE"));
    run->add_option("--checkpoint-every", checkpoint_every,
                    "Seconds between checkpoints to OUT.checkpoint (0: only when stopped by a "
                    "signal; default 300)")
        ->check(kFinite)
        ->check(CLI::Range(0.0, 1e9));
    run->add_option("--log-format", log_format,
                    "Progress on stderr: auto (a bar on a terminal, JSON lines otherwise), bar, "
                    "text or json")
        ->check(CLI::IsMember({"auto", "bar", "text", "json"}));
    run->add_option("--progress-every", progress_every,
                    "Seconds between text/JSON progress lines (default 30)")
        ->check(kFinite)
        ->check(CLI::Range(0.0, 1e9));
    run->footer(kExitCodes);

    std::vector<std::string> merge_inputs;
    std::string merge_output;
    auto *merge = app.add_subcommand(
        "merge", "Combine the shard files of one run (--shard K/N) into the whole run's file.");
    merge->add_option("output", merge_output, "Results file to write")->required();
    merge->add_option("shards", merge_inputs, "The N shard files, in any order")->required();
    merge->add_flag("--overwrite", overwrite, "Replace an existing results file");
    merge->add_flag("-q,--quiet", quiet, "No summary output");
    merge->footer(kExitCodes);

    auto *validate =
        app.add_subcommand("validate", "Check a config and print the model it builds.");
    validate->add_option("config", config, "Config file (YAML)")->required();
    validate->footer(kExitCodes);

    auto *trial_cmd = app.add_subcommand(
        "trial", "Re-simulate one trial and tell its story: the inputs it drew and, month by "
                 "month, each demand's want, delivery, stockpile draw and shortfall, the "
                 "restrictions in force and the binding constraints. Its numbers equal that "
                 "trial's row of the run's results file.");
    std::uint64_t trial_index = 0;
    std::string trial_scenario = "baseline", first_rung_name = "warm";
    TrialReportOptions trial_opt;
    trial_cmd->add_option("config", config, "Config file (YAML)")->required();
    trial_cmd->add_option("--trial", trial_index, "Trial index, 0-based (as in the results file)")
        ->required()
        ->check([](const std::string &v) -> std::string { // "-1" would wrap to 2^64 - 1
            return v.size() <= 20 && all_digits(v)
                       ? ""
                       : "expected a trial index, a whole number >= 0, got '" + v + "'";
        });
    trial_cmd->add_option("--seed", seed_text, "Master seed of the run (default: run.seed)")
        ->check(check_seed); // CLI11 would wrap -1 or 2^64 around silently
    trial_cmd
        ->add_option_function<std::string>(
            "--trials", [&](const std::string &v) { trials_option(v); },
            "Trials of the run (default: run.trials; a sampling design's rows depend on it)")
        ->type_name("N");
    trial_cmd->add_option("--scenario", trial_scenario, "Scenario id (default: baseline)");
    trial_cmd->add_option("--demand", trial_opt.demands, "Show only this demand (repeatable)");
    trial_cmd->add_flag("--json", trial_opt.json, "Everything as JSON (numbers to 17 digits)");
    trial_cmd
        ->add_option("--first-rung", first_rung_name,
                     "Diagnostics: start every allocation LP's solver ladder at this rung "
                     "(warm, cold, bland or clp: clp solves every LP with COIN-OR CLP)")
        ->check(CLI::IsMember({"warm", "cold", "bland", "clp"}));
    trial_cmd->footer(kExitCodes);

    auto *lp_cmd = app.add_subcommand(
        "lp", "Solve an allocation LP that stopped a run (<output>.failed.lp) with the solver "
              "ladder and with each rung alone; print each one's status, objective and "
              "optimality certificate. Exit 0 when the ladder solves it, 1 when not.");
    std::string lp_file;
    bool lp_values = false;
    lp_cmd->add_option("file", lp_file, "LP file (CPLEX LP format, as a failed run writes it)")
        ->required();
    lp_cmd->add_flag("--values", lp_values, "Also print the non-zero values and duals");
    lp_cmd->footer(kExitCodes);

    auto *summary = app.add_subcommand("summary", "Print the summary of a results file.");
    summary->add_option("file", summary_file, "Results file (HDF5)")->required();
    auto *summary_json_flag =
        summary->add_flag("--json", summary_opt.json, "Machine-readable JSON instead of a table");
    summary
        ->add_flag("--csv", summary_opt.csv,
                   "CSV instead of a table: one row per scenario and demand, every headline "
                   "statistic to 17 digits (for pandas or a spreadsheet)")
        ->excludes(summary_json_flag);
    summary->add_option("--top", summary_opt.top, "Chokepoints listed per ranking")
        ->check(CLI::Range(1, 1000));
    summary->add_option("--scenario", summary_opt.scenarios,
                        "Show this scenario in full: its own table, its differences against the "
                        "baseline and its chokepoints (repeatable; default: the baseline in full "
                        "and the other scenarios' differences)");
    summary->add_option("--demand", summary_opt.demands,
                        "Show only this demand (repeatable); its differences are shown even at 0");
    summary->add_flag("--diff-only", summary_opt.diff_only,
                      "Only the scenarios' paired differences against the baseline");
    summary->footer(kExitCodes);

    // CLI11 answers an unknown first word with "A subcommand is required": name it instead.
    if (argc > 1 && argv[1][0] != '-') {
        const std::string word = argv[1];
        bool known = false;
        std::string names;
        for (const auto *sub : app.get_subcommands([](const CLI::App *) { return true; })) {
            known = known || sub->get_name() == word;
            names += (names.empty() ? "" : ", ") + sub->get_name();
        }
        if (!known) {
            if (rank0)
                std::cerr << "chokepoint: error: unknown subcommand '" << word
                          << "'; the subcommands are " << names
                          << " (chokepoint --help, chokepoint SUBCOMMAND --help)\n";
            return leave(kExitBadInput);
        }
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        const int rc = rank0 ? app.exit(e) : (e.get_exit_code() == 0 ? 0 : 1);
        return rc == 0 ? kExitOk : leave(kExitBadInput);
    }

    if (g_comm && g_comm->size() > 1 && !*run) {
        // Each process would do the whole command: print twice, or race to write one file.
        if (rank0)
            std::cerr << "chokepoint: error: only `chokepoint run` divides its work among MPI "
                         "processes; start `chokepoint "
                      << app.get_subcommands().front()->get_name() << "` as one process (without "
                      << "mpirun or srun)\n";
        g_comm->broadcast(0); // the message is out before any rank aborts the job
        return leave(kExitBadInput);
    }

    try {
        if (*validate) {
            const Model m = load_model(config);
            std::cout << describe_model(m) << "config OK: " << config << "\n";
            return kExitOk;
        }
        if (*summary) {
            print_summary(summary_file, std::cout, summary_opt);
            return kExitOk;
        }
        if (*lp_cmd)
            return write_lp_replay(std::cout, lp_file, lp_values) ? kExitOk : kExitRuntime;
        if (*trial_cmd) {
            Model m = load_model(config);
            if (!seed_text.empty())
                m.run.seed = std::strtoull(seed_text.c_str(), nullptr, 10);
            set_trials(m, trials ? *trials : m.run.requested_trials);
            Rung first = Rung::Warm;
            for (int k = 0; k < kRungs; ++k)
                if (first_rung_name == rung_name(static_cast<Rung>(k)))
                    first = static_cast<Rung>(k);
            fit_importance(m, threads, nullptr); // the run's fitted proposal, if it had one
            const OneTrial t = run_one_trial(m, trial_scenario, trial_index, first);
            write_trial_report(std::cout, t, trial_index, trial_opt);
            return kExitOk;
        }
        if (*merge) {
            install_signal_handlers();
            const auto rep = merge_shards(merge_output, merge_inputs, overwrite);
            if (!quiet) {
                std::cerr << "chokepoint: merged " << merge_inputs.size() << " shards, "
                          << rep.trials << " trials in " << rep.seconds << " s -> " << merge_output
                          << "\n";
                print_summary(merge_output, std::cout);
            }
            return kExitOk;
        }
        if (config.empty() && resume.empty())
            throw InputError("run: give a CONFIG file, or --resume CHECKPOINT");
        if (run->count("--output") > 0 && output.empty())
            throw InputError("run: -o/--output is empty; give a file name, or leave the option "
                             "out for results/<config file stem>.h5");
        Model m;
        RunOptions opt;
        if (!resume.empty()) {
            if (trials || !seed_text.empty() || !shard_text.empty() || !scenario_ids.empty() ||
                store_inputs || target_se)
                throw InputError("run --resume: --trials, --seed, --shard, --scenario, "
                                 "--store-inputs and --target-se come from the checkpoint; leave "
                                 "them out");
            const StoredRun stored = read_stored_run(resume);
            m = model_of(stored);
            overwrite = overwrite || stored.overwrite; // as the interrupted run was started
            const std::string suffix = ".checkpoint";
            if (output.empty()) {
                if (resume.size() <= suffix.size() ||
                    resume.compare(resume.size() - suffix.size(), suffix.size(), suffix) != 0)
                    throw InputError("run --resume '" + resume +
                                     "': the name does not end in '.checkpoint'; give the "
                                     "results file with -o");
                output = resume.substr(0, resume.size() - suffix.size());
            }
            opt.resume = resume;
            opt.allow_version_change = allow_version_change;
        } else {
            if (allow_version_change)
                throw InputError("run: --allow-version-change goes with --resume");
            m = load_model(config);
            if (!seed_text.empty())
                m.run.seed = std::strtoull(seed_text.c_str(), nullptr, 10);
            if (store_inputs)
                m.run.store_inputs = true;
            if (target_se) {
                if (!m.run.stop.enabled)
                    throw InputError("--target-se needs run.stop_when in the config (it names the "
                                     "statistic, the demand and the trial range)");
                m.run.stop.se_below = *target_se;
            }
            select_scenarios(m, scenario_ids);
            // Also carries the seed and settings to the scenarios.
            set_trials(m, trials ? *trials : m.run.requested_trials);
        }
        if (!shard_text.empty()) {
            std::tie(opt.shard_index, opt.shard_count) = *parse_shard(shard_text);
            // Each shard would apply the stopping rule to its own trials and stop at its own
            // block: shards that no longer tile the run, which merge refuses at the end.
            if (m.run.stop.enabled)
                throw InputError("run: --shard cannot be used with run.stop_when (or --target-se): "
                                 "each shard would stop on its own trials' statistics and the "
                                 "shards would not add up to one run; give the trials instead "
                                 "(shards of a fixed count), or run the stopping rule without "
                                 "--shard");
        }
        // The default output is named after the config file, as scripts/run.sh names it (the
        // study's `name` may differ from the file name; a resumed run's comes from its checkpoint).
        opt.output = output.empty()
                         ? "results/" + std::filesystem::path(config).stem().string() + ".h5"
                         : output;
        opt.threads = threads;
        opt.overwrite = overwrite;
        opt.quiet = quiet || !rank0;
        opt.checkpoint_every = checkpoint_every;
        opt.log_format = parse_log_format(log_format);
        opt.progress_every = progress_every;
        opt.comm = g_comm.get();
        install_signal_handlers();
        // run.importance.cross_entropy: fit the proposal first (pilot rounds; deterministic, so a
        // resumed run or another rank fits the same one).
        fit_importance(m, threads, opt.quiet ? nullptr : &std::cerr);
        const auto rep = run_study(m, opt);
        // CHOKEPOINT_STATS: the allocator's counters and the run's phases on stderr, -q or not
        // (scripts/bench.sh reads the phases of its timed runs).
        if (rank0 && std::getenv("CHOKEPOINT_STATS"))
            std::cerr << "allocator: " << rep.alloc.solves << " component-months, "
                      << rep.alloc.cache_hits << " repeated, " << rep.alloc.monotone_hits
                      << " monotone, " << rep.alloc.certified << " certified, " << rep.alloc.lps
                      << " LPs (" << rep.alloc.warm << " warm), " << rep.alloc.pivots
                      << " pivots; cold: " << rep.alloc.cold_first << " first, "
                      << rep.alloc.cold_changed << " changed, " << rep.alloc.cold_failed
                      << " warm failed; without an LP: " << rep.alloc.certified_demands
                      << " months' demands, " << rep.alloc.certified_homes << " homes' phase 1, "
                      << rep.alloc.certified_rounds << " filling rounds\n"
                      << "phases: setup " << rep.setup_seconds << " s, pipeline "
                      << rep.pipeline_seconds << " s (writer stage, serial, " << rep.writer_seconds
                      << " s; " << rep.packed_chunks << " chunks packed in parallel, "
                      << rep.received_tables_deflated
                      << " tables of other ranks' blocks deflated here), finish "
                      << rep.finish_seconds << " s\n"
                      << "finish: statistics " << rep.finish_times.statistics << " s, distribution "
                      << rep.finish_times.distribution << " s, bands " << rep.finish_times.bands
                      << " s, differences " << rep.finish_times.differences
                      << " s, labels and sensitivity " << rep.finish_times.labels << " s, file "
                      << rep.finish_times.file << " s\n";
        if (!opt.quiet)
            print_summary(opt.output, std::cout);
        return kExitOk;
    } catch (const InputError &e) {
        if (rank0) {
            // A rule of the config's run settings found after loading (the design, importance
            // sampling): named by its key path; the file is added here.
            std::string msg = e.what();
            if (e.diagnostics().empty() && !config.empty() && msg.rfind("error: run.", 0) == 0)
                msg.insert(7, config + ": ");
            std::cerr << msg << "\n";
        }
        return leave(kExitBadInput);
    } catch (const Interrupted &e) {
        if (!e.checkpoint().empty()) {
            if (rank0)
                std::cerr << "chokepoint: " << e.what() << "; checkpoint saved to '"
                          << e.checkpoint() << "'; continue with `chokepoint run --resume "
                          << e.checkpoint() << "`\n";
            return kExitCheckpointed;
        }
        if (!e.checkpoint_error().empty()) {
            std::cerr << "chokepoint: " << e.what() << "; " << e.checkpoint_error()
                      << "; no results file written\n";
            exit_runtime_failure(128 + e.signal()); // a write failed: leave as after one
        }
        std::cerr << "chokepoint: " << e.what() << "; no results file written\n";
        return leave(128 + e.signal());
    } catch (const std::bad_alloc &) {
        std::cerr << "error: out of memory\n";
        exit_runtime_failure();
    } catch (const std::exception &e) {
        std::cerr << "error: " << e.what() << "\n";
        exit_runtime_failure();
    }
}
