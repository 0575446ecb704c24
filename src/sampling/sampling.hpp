// Sampling designs: the uniform coordinates from which every uncertain input of a trial is drawn
// (each input by its inverse CDF, Dist::from_uniform). Plain Monte Carlo, Latin hypercube and
// randomised Sobol' points, in independent replicates; rank correlation between inputs (Gaussian
// copula, or Iman-Conover for Latin hypercube); and the pick-freeze design of Sobol' indices.
//
// Every coordinate is a pure function of (seed, trial, input identity): a design does not depend
// on the thread count, on block boundaries, or on other inputs (an input that is added, removed
// or correlated changes no other input's coordinates).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace chokepoint {

enum class SamplerKind { MC, LHS, Sobol };

/// An uncertain input of a trial: a named quantity drawn from `coords` uniform coordinates.
struct DesignInput {
    std::string name;
    std::uint64_t qid = 0; // quantity_id(name)
    int coords = 1;
};

/// A rank (Spearman) correlation between the first coordinates of two inputs.
struct DesignCorrelation {
    int a = 0, b = 0; // input indices
    double rank = 0;  // target Spearman correlation in (-1, 1)
};

struct DesignSettings {
    SamplerKind kind = SamplerKind::MC;
    std::uint64_t seed = 1;
    std::uint64_t trials = 0; // all trials of the run
    int replicates = 1;       // independent designs of trials / replicates rows each
    /// Pick-freeze (Sobol' indices): > 0 = the number of base rows n; the run then has
    /// (pick_freeze_inputs.size() + 2) * n trials: matrices A, B, then AB_i for each listed input.
    std::uint64_t pick_freeze_rows = 0;
    std::vector<int> pick_freeze_inputs;
};

class Design {
public:
    /// Throws InputError when the correlations do not form a positive definite matrix (naming
    /// the inputs involved) or the design cannot be built (e.g. too many Sobol' dimensions).
    Design(DesignSettings settings, std::vector<DesignInput> inputs,
           std::vector<DesignCorrelation> correlations);
    ~Design();
    Design(const Design &) = delete;
    Design &operator=(const Design &) = delete;

    const DesignSettings &settings() const { return s_; }
    const std::vector<DesignInput> &inputs() const { return inputs_; }
    /// Total coordinates per trial, and where input i's coordinates start.
    int coords() const { return coords_; }
    int first_coord(int input) const { return first_[static_cast<std::size_t>(input)]; }
    /// Rows per replicate (m = trials / replicates), or the base rows n of a pick-freeze design.
    std::uint64_t rows() const { return m_; }
    int replicate(std::uint64_t trial) const;
    /// The trial whose streams a trial's non-input randomness (outage arrivals) uses: itself,
    /// or in a pick-freeze design the base row of matrix A (or B for matrix B).
    std::uint64_t stream_trial(std::uint64_t trial) const;

    /// Per-thread scratch (the Sobol' generator's state).
    struct Workspace;
    std::shared_ptr<Workspace> workspace() const;

    /// Fills u[(t - first) * coords() + c], each in (0, 1), for trials [first, first + count).
    void fill(std::uint64_t first, std::uint64_t count, double *u, Workspace &ws) const;

private:
    double lhs(int rep, int set, std::uint64_t row, int input, int coord, int c) const;
    void copula(double *u) const;

    DesignSettings s_;
    std::vector<DesignInput> inputs_;
    std::vector<DesignCorrelation> corr_;
    std::vector<int> first_;
    int coords_ = 0;
    std::uint64_t m_ = 0;
    int sets_ = 1;
    // Gaussian copula: the correlated inputs and the Cholesky factor of their normal correlation
    std::vector<int> corr_inputs_;
    std::vector<double> chol_; // lower triangular, row-major k x k
    // Iman-Conover (LHS): for each (replicate, set) and correlated input, the stratum of each row
    std::vector<std::vector<std::uint32_t>> ic_rank_;
    // Sobol': digital shifts per (replicate, dimension)
    std::vector<std::uint64_t> shift_;
};

/// A pseudo-random permutation of [0, n) keyed by `key`, evaluated at i (a Feistel network with
/// cycle walking): random access, O(1) memory.
std::uint64_t permute(std::uint64_t i, std::uint64_t n, std::uint64_t key);

/// The Pearson correlation of standard normals whose Spearman correlation is `rank`:
/// 2 sin(pi rank / 6).
double normal_correlation_for_rank(double rank);

} // namespace chokepoint
