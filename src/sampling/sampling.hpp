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

/// An importance-sampling proposal for one input's coordinate: a density on (0, 1) that is
/// uniform on each bin [edges[b], edges[b + 1]) and gives bin b probability mass[b] (every mass
/// > 0, summing to 1). The design maps its uniform u through the proposal's inverse CDF (piecewise
/// linear, non-decreasing), v = Q^-1(u), so the coordinate has the proposal's density q and
/// stratification and common random numbers survive; the trial's likelihood ratio is multiplied
/// by p(v) / q(v) = width[b] / mass[b] (the model's density of a coordinate is 1 on (0, 1)).
struct CoordTilt {
    int input = 0;             // index among the design's inputs (one coordinate, uncorrelated)
    std::vector<double> edges; // 0 = edges[0] < ... < edges[B] = 1
    std::vector<double> mass;  // [B], each > 0, sum 1
};

/// Throws InputError naming `what` when `t` is not a valid proposal (edges increasing from 0 to
/// 1, masses positive and summing to 1 within 1e-9).
void check_tilt(const CoordTilt &t, const std::string &what);

struct DesignSettings {
    SamplerKind kind = SamplerKind::MC;
    std::uint64_t seed = 1;
    std::uint64_t trials = 0; // all trials of the run
    int replicates = 1;       // independent designs of trials / replicates rows each
    /// Pick-freeze (Sobol' indices): > 0 = the number of base rows n; the run then has
    /// (pick_freeze_inputs.size() + 2) * n trials: matrices A, B, then AB_i for each listed input.
    std::uint64_t pick_freeze_rows = 0;
    std::vector<int> pick_freeze_inputs;
    /// Importance sampling: the proposals of tilted inputs (empty: none, every weight is 1).
    std::vector<CoordTilt> tilts;
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

    /// Fills u[(t - first) * coords() + c], each in (0, 1), for trials [first, first + count);
    /// with `weight`, weight[t - first] = the trial's likelihood ratio p(u) / q(u) under the
    /// importance tilts (exactly 1 without tilts).
    void fill(std::uint64_t first, std::uint64_t count, double *u, Workspace &ws,
              double *weight = nullptr) const;
    /// Whether the design tilts any input (importance sampling).
    bool tilted() const { return !s_.tilts.empty(); }

private:
    double lhs(int rep, int set, std::uint64_t row, int input, int coord, int c) const;
    void copula(double *u) const;
    double tilt(double *row_u) const; // applies the tilts to a row; returns its likelihood ratio

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
    // Tilts: per tilt, the proposal's cumulative masses [B + 1] and likelihood ratios [B]
    std::vector<std::vector<double>> tilt_cum_, tilt_lr_;
};

/// A pseudo-random permutation of [0, n) keyed by `key`, evaluated at i (a Feistel network with
/// cycle walking): random access, O(1) memory.
std::uint64_t permute(std::uint64_t i, std::uint64_t n, std::uint64_t key);

/// The Pearson correlation of standard normals whose Spearman correlation is `rank`:
/// 2 sin(pi rank / 6).
double normal_correlation_for_rank(double rank);

} // namespace chokepoint
