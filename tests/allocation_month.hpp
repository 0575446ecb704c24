// A one-month allocation problem for hand-solved tests (test_allocation, test_allocation_rules):
// a model from YAML, per-MONTH capacities, wants, refills, restriction states and stockpile
// availability set by id, solved by a fresh Allocator.
#pragma once

#include "config/config.hpp"
#include "engine/allocation.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace chokepoint::test {

inline bool close(double a, double b) {
    return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b)) + 1e-12;
}

/// One month of one model: set capacities, wants, refills and restrictions by id, then solve.
struct Month {
    Model m;
    std::vector<double> cap, want, refill, leak;
    std::vector<char> active;
    std::vector<double> avail; // what each demand's stockpile can give this month
    MonthOutput out;
    AllocatorStats stats; // of the last solve()
    bool verify = true;   // months served in full without an LP are checked by the LPs

    explicit Month(const std::string &yaml) : m(load_model_from_string(yaml, "alloc.yaml")) {
        cap.assign(m.facilities.size(), 0.0);
        want.assign(m.demands.size(), 0.0);
        refill.assign(m.demands.size(), 0.0);
        leak.assign(m.restrictions.size(), 0.0);
        active.assign(m.restrictions.size(), 0);
        avail.assign(m.demands.size(), 0.0);
        for (std::size_t r = 0; r < m.restrictions.size(); ++r)
            if (m.restrictions[r].event < 0) { // static lanes are always active
                active[r] = 1;
                leak[r] = m.restrictions[r].static_leakage;
            }
    }
    /// Index of the entity named `id` in `items` (anything with an `id`), failing the test if none.
    template <class T>
    static int index_of(const std::vector<T> &items, const std::string &id, const char *what) {
        for (std::size_t i = 0; i < items.size(); ++i)
            if (items[i].id == id)
                return static_cast<int>(i);
        FAIL("no " << what << " " << id);
        return -1;
    }
    int fac(const std::string &id) const { return index_of(m.facilities, id, "facility"); }
    int dem(const std::string &id) const { return index_of(m.demands, id, "demand"); }
    int res(const std::string &id) const { return index_of(m.restrictions, id, "restriction"); }
    int node(const std::string &name) const {
        for (std::size_t i = 0; i < m.node_names.size(); ++i)
            if (m.node_names[i] == name)
                return static_cast<int>(i);
        FAIL("no node " << name);
        return -1;
    }
    Month &c(const std::string &id, double v) {
        cap[static_cast<std::size_t>(fac(id))] = v;
        return *this;
    }
    Month &w(const std::string &id, double v) {
        want[static_cast<std::size_t>(dem(id))] = v;
        return *this;
    }
    Month &rf(const std::string &id, double v) {
        refill[static_cast<std::size_t>(dem(id))] = v;
        return *this;
    }
    Month &stock(const std::string &id, double v) {
        avail[static_cast<std::size_t>(dem(id))] = v;
        return *this;
    }
    Month &rule(AllocationRule r) {
        m.allocation.rule = r;
        return *this;
    }
    Month &restrict(const std::string &id, bool on, double leakage) {
        active[static_cast<std::size_t>(res(id))] = on;
        leak[static_cast<std::size_t>(res(id))] = leakage;
        return *this;
    }
    MonthInput input() const {
        return {cap.data(), want.data(), refill.data(), active.data(), leak.data(), avail.data()};
    }
    const MonthOutput &solve() {
        Allocator a(m);
        a.set_verify_certificates(verify);
        a.solve(input(), out);
        stats = a.stats();
        return out;
    }
    double got(const std::string &demand) const {
        return out.delivered[static_cast<std::size_t>(dem(demand))];
    }
    double refilled(const std::string &demand) const {
        return out.refill_delivered[static_cast<std::size_t>(dem(demand))];
    }
    bool binds(const std::string &node_name) const {
        return out.node_binding[static_cast<std::size_t>(node(node_name))];
    }
    bool res_binds(const std::string &id) const {
        return out.restriction_binding[static_cast<std::size_t>(res(id))];
    }
    int bound_nodes() const {
        return static_cast<int>(std::count(out.node_binding.begin(), out.node_binding.end(), 1));
    }
};

#define CHECK_DELIVERED(month, demand, value)                                                      \
    do {                                                                                           \
        INFO("delivered to " << demand << ": " << (month).got(demand) << ", expected "             \
                             << (value));                                                          \
        CHECK(close((month).got(demand), (value)));                                                \
    } while (0)

} // namespace chokepoint::test
