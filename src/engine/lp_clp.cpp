// The last rung of the LP ladder (lp.hpp): COIN-OR CLP, a well-kept general simplex code (Debian's
// coinor-libclp-dev; docs/dependencies.md). Only this file sees CLP's headers.
#include "engine/lp.hpp"

#include <ClpSimplex.hpp>
#include <CoinMessageHandler.hpp>

#include <cmath>
#include <vector>

namespace chokepoint {

// Solves  max c.x  s.t.  A x <= b, x >= 0  as CLP's  min (-c).x  with row upper bounds b. CLP
// reports the duals of that minimisation (<= 0 on a tight <= row); ours are their negatives. The
// answer is accepted only with the same certificate as every other rung (accept()).
LinearProgram::Status LinearProgram::solve_library() {
    tableau_valid_ = false;
    const int m = static_cast<int>(rhs_.size());
    // Column-major copy of the rows.
    std::vector<int> count(static_cast<std::size_t>(n_) + 1, 0);
    for (int e : idx_)
        ++count[static_cast<std::size_t>(e) + 1];
    std::vector<CoinBigIndex> start(static_cast<std::size_t>(n_) + 1, 0);
    for (int j = 0; j < n_; ++j)
        start[static_cast<std::size_t>(j) + 1] =
            start[static_cast<std::size_t>(j)] + count[static_cast<std::size_t>(j) + 1];
    std::vector<int> row_index(idx_.size());
    std::vector<double> value(idx_.size());
    std::vector<CoinBigIndex> fill(start.begin(), start.end() - 1);
    for (int i = 0; i < m; ++i)
        for (int e = row_start_[static_cast<std::size_t>(i)];
             e < row_start_[static_cast<std::size_t>(i) + 1]; ++e) {
            const auto j = static_cast<std::size_t>(idx_[static_cast<std::size_t>(e)]);
            const auto at = static_cast<std::size_t>(fill[j]++);
            row_index[at] = i;
            value[at] = val_[static_cast<std::size_t>(e)];
        }
    std::vector<double> col_lo(static_cast<std::size_t>(n_), 0.0),
        col_up(static_cast<std::size_t>(n_), COIN_DBL_MAX), obj(static_cast<std::size_t>(n_)),
        row_lo(static_cast<std::size_t>(m), -COIN_DBL_MAX), row_up(rhs_);
    for (int j = 0; j < n_; ++j)
        obj[static_cast<std::size_t>(j)] = -cost_[static_cast<std::size_t>(j)];

    CoinMessageHandler quiet;
    quiet.setLogLevel(0);
    ClpSimplex clp;
    clp.passInMessageHandler(&quiet);
    clp.setLogLevel(0);
    clp.loadProblem(n_, m, start.data(), row_index.data(), value.data(), col_lo.data(),
                    col_up.data(), obj.data(), row_lo.data(), row_up.data());
    // Tighter than CLP's defaults (1e-7): the certificate asks for 1e-9.
    clp.setPrimalTolerance(1e-10);
    clp.setDualTolerance(1e-10);
    Status st = Status::Numerical;
    for (int attempt = 0; attempt < 2 && st != Status::Optimal; ++attempt) {
        if (attempt == 0)
            clp.dual();
        else
            clp.primal();
        switch (clp.status()) {
        case 0:
            break;
        case 1:
            st = Status::Infeasible;
            continue;
        case 2:
            st = Status::Unbounded;
            continue;
        case 3:
            st = Status::IterationLimit;
            continue;
        default:
            st = Status::Numerical;
            continue;
        }
        const double *xs = clp.primalColumnSolution();
        const double *ys = clp.dualRowSolution();
        x_.assign(xs, xs + n_);
        y_.resize(static_cast<std::size_t>(m));
        for (int i = 0; i < m; ++i)
            y_[static_cast<std::size_t>(i)] = -ys[i];
        objective_ = 0;
        for (int j = 0; j < n_; ++j)
            objective_ += cost_[static_cast<std::size_t>(j)] * x_[static_cast<std::size_t>(j)];
        st = accept();
    }
    pivots_ += clp.numberIterations();
    return st;
}

} // namespace chokepoint
