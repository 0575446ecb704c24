// Progress reports (progress.hpp) and CPU limits (cpus.hpp).
#include "study/cpus.hpp"
#include "study/progress.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace chokepoint;

namespace {

constexpr double kWall = 1795870800.0; // 2026-11-28T13:00:00Z
constexpr double kStart = 100.0;

/// A Progress on an ostringstream with a clock the test moves by hand.
struct Fixture {
    std::ostringstream out;
    double now = kStart;
    Progress p;
    Fixture(LogFormat fmt, std::uint64_t total, std::uint64_t already = 0, double interval = 5.0,
            bool tty = false)
        : p(
              out, fmt, tty, total, already, interval, [this] { return now; },
              [] { return kWall; }) {}
    /// What was written since the last call.
    std::string take() {
        std::string s = out.str();
        out.str("");
        return s;
    }
};

std::size_t count(const std::string &s, char c) {
    return static_cast<std::size_t>(std::count(s.begin(), s.end(), c));
}

void write_file(const std::filesystem::path &p, const std::string &text) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
}

} // namespace

// --- progress -------------------------------------------------------------------------------

TEST_CASE("parse_log_format accepts the four names and names them when refusing", "[progress]") {
    CHECK(parse_log_format("auto") == LogFormat::Auto);
    CHECK(parse_log_format("bar") == LogFormat::Bar);
    CHECK(parse_log_format("text") == LogFormat::Text);
    CHECK(parse_log_format("json") == LogFormat::Json);
    for (const char *bad : {"", "JSON", "xml", "json ", "bars"}) {
        INFO("'" << bad << "'");
        try {
            parse_log_format(bad);
            FAIL("no exception");
        } catch (const std::invalid_argument &e) {
            const std::string what = e.what();
            CHECK(what.find("auto, bar, text, json") != std::string::npos);
            CHECK(what.find(std::string("'") + bad + "'") != std::string::npos);
        }
    }
}

TEST_CASE("json_string escapes per RFC 8259", "[progress]") {
    CHECK(json_string("") == "\"\"");
    CHECK(json_string("results/x.h5") == "\"results/x.h5\"");
    CHECK(json_string("say \"hi\"") == "\"say \\\"hi\\\"\"");
    CHECK(json_string("a\\b") == "\"a\\\\b\"");
    CHECK(json_string("line\nnext") == "\"line\\nnext\"");
    CHECK(json_string("\t\r\b\f") == "\"\\t\\r\\b\\f\"");
    CHECK(json_string(std::string("\x01") + "x\x1f") == "\"\\u0001x\\u001f\"");
    CHECK(json_string(std::string(1, '\0')) == "\"\\u0000\"");
    CHECK(json_string("/ \x7f caf\xc3\xa9") == "\"/ \x7f caf\xc3\xa9\""); // passed through
}

TEST_CASE("json_number: finite numbers, null otherwise", "[progress]") {
    CHECK(json_number(0) == "0");
    CHECK(json_number(7.47) == "7.47");
    CHECK(json_number(1210.2409) == "1210.24");
    CHECK(json_number(0.452) == "0.452");
    CHECK(json_number(1.5e7) == "1.5e+07");
    CHECK(json_number(-2.5) == "-2.5");
    CHECK(json_number(std::numeric_limits<double>::quiet_NaN()) == "null");
    CHECK(json_number(std::numeric_limits<double>::infinity()) == "null");
    CHECK(json_number(-std::numeric_limits<double>::infinity()) == "null");
}

TEST_CASE("Auto is Bar on a terminal and Json otherwise", "[progress]") {
    std::ostringstream out;
    CHECK(Progress(out, LogFormat::Auto, true, 10, 0, 1).format() == LogFormat::Bar);
    CHECK(Progress(out, LogFormat::Auto, false, 10, 0, 1).format() == LogFormat::Json);
    CHECK(Progress(out, LogFormat::Text, true, 10, 0, 1).format() == LogFormat::Text);
    CHECK(Progress(out, LogFormat::Json, true, 10, 0, 1).format() == LogFormat::Json);
    CHECK(out.str().empty());
}

TEST_CASE("Json progress lines: exact text, one per interval", "[progress]") {
    Fixture f(LogFormat::Json, 20000, 0, 5.0);
    f.now = kStart + 4.9;
    f.p.update(5000);
    CHECK(f.take().empty()); // before the interval

    f.now = kStart + 8.0;
    f.p.update(9040);
    CHECK(f.take() ==
          "{\"event\":\"progress\",\"time\":\"2026-11-28T13:00:00Z\",\"trials_done\":9040,"
          "\"trials_total\":20000,\"fraction\":0.452,\"elapsed_s\":8,\"rate_per_s\":"
          "1130,\"eta_s\":9.69912}\n");

    f.now = kStart + 12.0; // 4 s since the last line
    f.p.update(12000);
    CHECK(f.take().empty());

    f.now = kStart + 100.0; // many intervals later: still one line
    f.p.update(16000);
    const std::string line = f.take();
    CHECK(count(line, '\n') == 1);
    CHECK(line.find("\"trials_done\":16000,") != std::string::npos);
    CHECK(line.find("\"elapsed_s\":100,\"rate_per_s\":160,\"eta_s\":25}") != std::string::npos);
}

TEST_CASE("Json: ETA null before any progress, rate over this process's trials only",
          "[progress]") {
    SECTION("no progress yet") {
        Fixture f(LogFormat::Json, 1000, 0, 1.0);
        f.now = kStart + 2.0;
        f.p.update(0);
        const std::string line = f.take();
        CHECK(line.find("\"fraction\":0,\"elapsed_s\":2,\"rate_per_s\":0,\"eta_s\":null}") !=
              std::string::npos);
    }
    SECTION("resumed at 5000 of 20000") {
        Fixture f(LogFormat::Json, 20000, 5000, 1.0);
        f.now = kStart + 3.0;
        f.p.update(5000); // nothing done here yet
        CHECK(f.take().find("\"trials_done\":5000,\"trials_total\":20000,\"fraction\":0.25,"
                            "\"elapsed_s\":3,\"rate_per_s\":0,\"eta_s\":null}") !=
              std::string::npos);
        f.now = kStart + 10.0;
        f.p.update(7000); // 2000 trials in 10 s here: 200/s, 13000 left: 65 s
        CHECK(
            f.take().find("\"fraction\":0.35,\"elapsed_s\":10,\"rate_per_s\":200,\"eta_s\":65}") !=
            std::string::npos);
    }
    SECTION("interval 0: a line on every call") {
        Fixture f(LogFormat::Json, 100, 0, 0.0);
        f.now = kStart + 1.0;
        f.p.update(10);
        f.p.update(20);
        CHECK(count(f.take(), '\n') == 2);
    }
}

TEST_CASE("Json events and done", "[progress]") {
    Fixture f(LogFormat::Json, 20000, 0, 5.0);
    f.p.event("resumed", {{"trials_done", "4000"}, {"output", json_string("results/\"x\".h5")}});
    CHECK(f.take() ==
          "{\"event\":\"resumed\",\"time\":\"2026-11-28T13:00:00Z\",\"trials_done\":4000,"
          "\"output\":\"results/\\\"x\\\".h5\"}\n");
    f.p.event("start", {});
    CHECK(f.take() == "{\"event\":\"start\",\"time\":\"2026-11-28T13:00:00Z\"}\n");

    f.p.finish({20000, 20000, 16.0, 2, "results/x.h5", true, "complete"});
    CHECK(f.take() ==
          "{\"event\":\"done\",\"time\":\"2026-11-28T13:00:00Z\",\"status\":\"complete\","
          "\"trials_done\":20000,\"trials_total\":20000,\"seconds\":16,\"rate_per_s\":"
          "1250,\"threads\":2,\"output\":\"results/x.h5\"}\n");
}

TEST_CASE("Json done: status defaults, resumed rate, zero seconds", "[progress]") {
    Fixture f(LogFormat::Json, 20000, 5000, 5.0);
    f.p.finish({9000, 20000, 8.0, 4, "", false, ""});
    CHECK(f.take() ==
          "{\"event\":\"done\",\"time\":\"2026-11-28T13:00:00Z\",\"status\":\"incomplete\","
          "\"trials_done\":9000,\"trials_total\":20000,\"seconds\":8,\"rate_per_s\":500,"
          "\"threads\":4,\"output\":\"\"}\n");
    f.p.finish({5000, 20000, 0.0, 1, "x.h5", false, "interrupted"});
    const std::string line = f.take();
    CHECK(line.find("\"status\":\"interrupted\"") != std::string::npos);
    CHECK(line.find("\"seconds\":0,\"rate_per_s\":null,") != std::string::npos);
}

TEST_CASE("Text lines", "[progress]") {
    Fixture f(LogFormat::Text, 20000, 0, 5.0);
    f.now = kStart + 1.0;
    f.p.update(1000);
    CHECK(f.take().empty());
    f.now = kStart + 8.0;
    f.p.update(9040);
    CHECK(f.take() == "chokepoint: 9040/20000 trials (45.2%), 1130 trials/s, ETA 10 s\n");
    f.now = kStart + 10.0;
    f.p.update(10000);
    CHECK(f.take().empty());
    f.now = kStart + 13.0;
    f.p.update(10400); // 800/s, 9600 left: 12 s
    CHECK(f.take() == "chokepoint: 10400/20000 trials (52.0%), 800 trials/s, ETA 12 s\n");

    f.p.event("checkpoint", {{"trials_done", "10400"}, {"file", json_string("a.h5")}});
    CHECK(f.take() == "chokepoint: checkpoint: trials_done=10400, file=\"a.h5\"\n");
    f.p.event("resumed", {});
    CHECK(f.take() == "chokepoint: resumed\n");

    f.p.finish({20000, 20000, 16.5, 2, "results/x.h5", true, "complete"});
    CHECK(f.take() ==
          "chokepoint: 20000 trials in 16.5 s (1212 trials/s, 2 threads) -> results/x.h5\n");
    f.p.finish({9040, 20000, 7.5, 1, "", false, "interrupted"});
    CHECK(f.take() ==
          "chokepoint: interrupted: 9040/20000 trials in 7.5 s (1205 trials/s, 1 thread)\n");
}

TEST_CASE("Text: ETA before progress, long ETAs, percent never rounds up to 100", "[progress]") {
    Fixture f(LogFormat::Text, 1000000, 0, 1.0);
    f.now = kStart + 1.0;
    f.p.update(0);
    CHECK(f.take() == "chokepoint: 0/1000000 trials (0.0%), 0 trials/s, ETA unknown\n");
    f.now = kStart + 10.0;
    f.p.update(1000); // 100/s, 999000 left: 9990 s = 2 h 46 min
    CHECK(f.take() == "chokepoint: 1000/1000000 trials (0.1%), 100 trials/s, ETA 2 h 46 min\n");
    f.now = kStart + 100.0;
    f.p.update(999999);
    CHECK(f.take().find("(99.9%)") != std::string::npos);
    f.now = kStart + 400.0;
    f.p.update(500000); // 1250/s, 500000 left: 400 s
    CHECK(f.take().find("ETA 6 min 40 s") != std::string::npos);
}

TEST_CASE("Bar: one line rewritten with \\r, throttled to 0.2 s, ended by finish", "[progress]") {
    Fixture f(LogFormat::Auto, 20000, 0, 5.0, /*tty=*/true);
    REQUIRE(f.p.format() == LogFormat::Bar);
    f.now = kStart + 0.1;
    f.p.update(100);
    CHECK(f.take().empty());

    f.now = kStart + 8.0;
    f.p.update(9040);
    const std::string first = f.take();
    CHECK(first == "\r[#############.................]  45.2%  9,040/20,000 trials  1,130 trials/s"
                   "  ETA 0:10");
    CHECK(count(first, '\n') == 0);

    f.now = kStart + 8.1; // within 0.2 s
    f.p.update(9100);
    CHECK(f.take().empty());

    f.now = kStart + 8.3;
    f.p.update(9200);
    const std::string second = f.take();
    CHECK(second.rfind("\r[", 0) == 0);
    CHECK(second.find(" 46.0%  9,200/20,000 trials") != std::string::npos);
    CHECK(count(second, '\n') == 0);

    f.now = kStart + 16.0;
    f.p.finish({20000, 20000, 16.0, 2, "results/x.h5", true, "complete"});
    const std::string last = f.take();
    CHECK(last.rfind("\r[##############################] 100.0%  20,000/20,000 trials  1,250 "
                     "trials/s  ETA 0:00",
                     0) == 0);
    CHECK(last.find("\nchokepoint: 20000 trials in 16.0 s (1250 trials/s, 2 threads) -> "
                    "results/x.h5\n") != std::string::npos);
    CHECK(last.back() == '\n');
}

TEST_CASE("Bar: ETA --:-- before progress, shorter line wipes a longer one", "[progress]") {
    Fixture f(LogFormat::Bar, 2000000, 1000000, 5.0);
    f.now = kStart + 1.0;
    f.p.update(1000000); // resumed at half, nothing done here yet
    const std::string first = f.take();
    CHECK(first ==
          "\r[###############...............]  50.0%  1,000,000/2,000,000 trials  0 trials/s"
          "  ETA --:--");
    f.now = kStart + 2.0;
    f.p.update(1000500); // 500 in 2 s: 250/s, 999500 left: 3998 s
    const std::string second = f.take();
    CHECK(second.find("  250 trials/s  ETA 1:06:38") != std::string::npos);
    f.now = kStart + 1000.0;
    f.p.update(1999000); // 999000 in 1000 s: 999/s, ETA 0:01: a shorter line
    const std::string third = f.take();
    CHECK(third.find("  999 trials/s  ETA 0:01") != std::string::npos);
    CHECK(third.size() == second.size()); // padded with spaces over the longer line
    CHECK(third.back() == ' ');
}

TEST_CASE("Bar: events clear the bar and redraw it", "[progress]") {
    Fixture f(LogFormat::Bar, 100, 0, 5.0);
    f.p.event("start", {{"threads", "2"}}); // no bar yet: just the line
    CHECK(f.take() == "chokepoint: start: threads=2\n");

    f.now = kStart + 1.0;
    f.p.update(50);
    const std::string bar = f.take();
    REQUIRE(bar.size() > 1);
    f.p.event("checkpoint", {{"trials_done", "50"}, {"file", json_string("x.h5")}});
    const std::string ev = f.take();
    std::string clear(bar.size() + 1, ' '); // "\r", the width of the bar in spaces, "\r"
    clear.front() = clear.back() = '\r';
    CHECK(ev == clear + "chokepoint: checkpoint: trials_done=50, file=\"x.h5\"\n" + bar);

    f.p.finish({50, 100, 1.0, 1, "", false, "interrupted"});
    const std::string last = f.take();
    CHECK(last.find(" 50.0%") != std::string::npos);
    CHECK(
        last.find("\nchokepoint: interrupted: 50/100 trials in 1.0 s (50 trials/s, 1 thread)\n") !=
        std::string::npos);
}

TEST_CASE("Bar: finish without a bar on screen prints only the summary; destructor ends a bar",
          "[progress]") {
    {
        Fixture f(LogFormat::Bar, 10, 0, 5.0);
        f.p.finish({10, 10, 0.05, 1, "a.h5", true, ""});
        CHECK(f.take() == "chokepoint: 10 trials in 0.1 s (200 trials/s, 1 thread) -> a.h5\n");
    }
    std::ostringstream out;
    double now = kStart;
    {
        Progress p(
            out, LogFormat::Bar, true, 10, 0, 1.0, [&] { return now; }, [] { return kWall; });
        now += 1.0;
        p.update(5);
        CHECK(out.str().back() != '\n');
    } // an exception unwinding past the Progress: the bar line is ended
    CHECK(out.str().back() == '\n');
    CHECK(count(out.str(), '\n') == 1);
}

// --- cpus -------------------------------------------------------------------------------------

TEST_CASE("parse_cgroup_v2_cpu_max", "[cpus]") {
    CHECK(parse_cgroup_v2_cpu_max("max 100000") == 0);
    CHECK(parse_cgroup_v2_cpu_max("max 100000\n") == 0);
    CHECK(parse_cgroup_v2_cpu_max("200000 100000") == 2.0);
    CHECK(parse_cgroup_v2_cpu_max("200000 100000\n") == 2.0);
    CHECK(parse_cgroup_v2_cpu_max("150000 100000\n") == 1.5);
    CHECK(parse_cgroup_v2_cpu_max("50000 100000") == 0.5);
    CHECK(parse_cgroup_v2_cpu_max("1600000 100000") == 16.0);
    // Malformed or unreadable: no limit.
    for (const char *bad :
         {"", "\n", "max", "200000", "abc 100000", "200000 0", "200000 -5", "0 100000", "-1 100000",
          "200000 100000 7", "2e5 100000", "200000x 100000", "99999999999999999999999 100000"}) {
        INFO("'" << bad << "'");
        CHECK(parse_cgroup_v2_cpu_max(bad) == 0);
    }
}

TEST_CASE("parse_cgroup_v1_quota", "[cpus]") {
    CHECK(parse_cgroup_v1_quota("200000", "100000") == 2.0);
    CHECK(parse_cgroup_v1_quota("200000\n", "100000\n") == 2.0);
    CHECK(parse_cgroup_v1_quota("250000\n", "100000\n") == 2.5);
    CHECK(parse_cgroup_v1_quota("-1\n", "100000\n") == 0);
    CHECK(parse_cgroup_v1_quota("-1", "100000") == 0);
    CHECK(parse_cgroup_v1_quota("", "100000") == 0);
    CHECK(parse_cgroup_v1_quota("200000", "") == 0);
    CHECK(parse_cgroup_v1_quota("200000", "0") == 0);
    CHECK(parse_cgroup_v1_quota("lots", "100000") == 0);
    CHECK(parse_cgroup_v1_quota("200000 1", "100000") == 0);
}

TEST_CASE("parse_slurm_cpus", "[cpus]") {
    CHECK(parse_slurm_cpus("4") == 4);
    CHECK(parse_slurm_cpus("1") == 1);
    CHECK(parse_slurm_cpus(" 8\n") == 8);
    CHECK(parse_slurm_cpus("2147483647") == 2147483647);
    for (const char *bad : {"", " ", "0", "-2", "4x", "2(x3)", "1.5", "+4", "abc", "2147483648",
                            "99999999999999999999"}) {
        INFO("'" << bad << "'");
        CHECK(parse_slurm_cpus(bad) == 0);
    }
    CHECK(parse_slurm_cpus(nullptr) == 0);
}

TEST_CASE("usable_cpus: the smallest known limit, quota rounded up, at least 1", "[cpus]") {
    CHECK(usable_cpus({}) == 1);
    CHECK(usable_cpus({16, 0, 0, 32}) == 16);
    CHECK(usable_cpus({16, 2.0, 0, 32}) == 2);
    CHECK(usable_cpus({16, 1.5, 0, 32}) == 2);
    CHECK(usable_cpus({16, 0.1, 0, 32}) == 1);
    CHECK(usable_cpus({16, 0, 4, 32}) == 4);
    CHECK(usable_cpus({3, 8.0, 4, 32}) == 3);
    CHECK(usable_cpus({0, 0, 0, 8}) == 8);
    CHECK(usable_cpus({0, 6.5, 0, 0}) == 7);
    CHECK(usable_cpus({0, 1e30, 0, 0}) == 2147483647);
    CHECK(usable_cpus({-3, -1.0, -2, 0}) == 1); // nonsense counts as unknown
    CHECK(usable_cpus({4, std::numeric_limits<double>::quiet_NaN(), 0, 0}) == 4);
}

TEST_CASE("describe", "[cpus]") {
    CHECK(describe({16, 2.0, 0, 16}) ==
          "2 threads (affinity 16, cgroup quota 2.0, SLURM_CPUS_PER_TASK unset, hardware 16)");
    CHECK(describe({16, 1.5, 0, 16}) ==
          "2 threads (affinity 16, cgroup quota 1.5, SLURM_CPUS_PER_TASK unset, hardware 16)");
    CHECK(describe({8, 0, 1, 64}) ==
          "1 thread (affinity 8, no cgroup quota, SLURM_CPUS_PER_TASK 1, hardware 64)");
    CHECK(describe({}) == "1 thread (affinity unknown, no cgroup quota, SLURM_CPUS_PER_TASK unset, "
                          "hardware unknown)");
}

TEST_CASE("parse_proc_self_cgroup_v2", "[cpus]") {
    CHECK(parse_proc_self_cgroup_v2("0::/\n") == "/");
    CHECK(parse_proc_self_cgroup_v2("0::/user.slice/session-3.scope\n") ==
          "/user.slice/session-3.scope");
    CHECK(parse_proc_self_cgroup_v2("12:cpu,cpuacct:/docker/abc\n0::/job_7/step_0\n") ==
          "/job_7/step_0");
    CHECK(parse_proc_self_cgroup_v2("12:cpu,cpuacct:/docker/abc\n11:memory:/docker/abc\n").empty());
    CHECK(parse_proc_self_cgroup_v2("").empty());
}

TEST_CASE("cgroup_v2_quota_along: the smallest quota from the leaf up to the root", "[cpus]") {
    test::TempDir dir("cpus_cgroup");
    const std::string root = dir.path.string();
    write_file(dir.path / "cpu.max", "max 100000\n");
    write_file(dir.path / "job" / "cpu.max", "400000 100000\n");
    write_file(dir.path / "job" / "step" / "cpu.max", "max 100000\n");
    write_file(dir.path / "job" / "step" / "task" / "cpu.max", "max 100000\n");
    write_file(dir.path / "tight" / "cpu.max", "150000 100000\n");
    write_file(dir.path / "tight" / "inner" / "cpu.max", "300000 100000\n");

    CHECK(cgroup_v2_quota_along(root, "/") == 0);
    CHECK(cgroup_v2_quota_along(root, "") == 0);
    CHECK(cgroup_v2_quota_along(root, "/job/step/task") == 4.0);
    CHECK(cgroup_v2_quota_along(root, "/job/step/task/") == 4.0);
    CHECK(cgroup_v2_quota_along(root, "/job") == 4.0);
    CHECK(cgroup_v2_quota_along(root, "/tight/inner") == 1.5);
    CHECK(cgroup_v2_quota_along(root, "/missing/dir") == 0);
    CHECK(cgroup_v2_quota_along(root, "/../job") == 0); // outside the namespace: root only
    CHECK(cgroup_v2_quota_along(root + "/nonexistent", "/") == 0);

    write_file(dir.path / "cpu.max", "200000 100000\n");
    CHECK(cgroup_v2_quota_along(root, "/job/step/task") == 2.0);
    CHECK(cgroup_v2_quota_along(root, "/../job") == 2.0);
}

TEST_CASE("detect_cpu_limits on this machine", "[cpus]") {
    const CpuLimits l = detect_cpu_limits();
    INFO(describe(l));
    CHECK(l.affinity >= 1);
    CHECK(l.hardware >= 1);
    CHECK(l.cgroup_quota >= 0);
    CHECK(l.slurm >= 0);
    CHECK(usable_cpus(l) >= 1);
    CHECK(usable_cpus(l) <= l.affinity);
    WARN("this machine: " << describe(l));
}
