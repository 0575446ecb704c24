// Global sensitivity analysis of Monte Carlo output: which uncertain inputs drive an output.
//
//   Rank-based importance (tornado charts): Spearman's rank correlation of each input with the
//   output, and standardised rank regression coefficients (SRRC: the coefficients of the linear
//   regression of the output's ranks on all the inputs' ranks, every rank vector standardised)
//   with the R^2 of that regression. Needs only the (input, output) pairs of ordinary trials.
//
//   Variance-based (Sobol') indices from a pick-freeze design: first-order S_i (Saltelli et al.
//   2010) and total ST_i (Jansen 1999). Needs the model evaluated at (k + 2) n designed points.
//
// Confidence intervals are percentile-bootstrap intervals: B replicates, each resampling the n
// rows (trials) with replacement and recomputing the statistic on the resample (re-ranking it,
// for the rank statistics); the interval is the (1 - conf)/2 and (1 + conf)/2 quantiles of the
// B replicate values (linear interpolation between order statistics, numpy's default, Hyndman &
// Fan type 7). Replicates in which a statistic is undefined (an input or the output constant in
// the resample, an aliased input, V = 0) are left out of that statistic's quantiles; a statistic
// undefined in every replicate, or bootstrap = 0, gets NaN bounds.
//
// Reproducibility: replicate b resamples with Stream(seed, b, quantity_id(kRankBootstrapStream))
// (resp. kSobolBootstrapStream) through boost::random::uniform_int_distribution, so the results
// are the same bits for the same inputs and seed, whatever the thread count (replicates run in
// parallel, each on one thread, in a fixed order of operations) and the machine (x86-64, built
// with -ffp-contract=off as chokepoint_lib is). bootstrap_indices() reproduces the resamples.
//
// Inputs must be finite: NaN or infinite values throw std::invalid_argument, as do mismatched
// sizes, n = 0, bootstrap < 0 and conf outside (0, 1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace chokepoint {

// --- ranks -----------------------------------------------------------------------------------

/// 1-based ranks of x; tied values get the average of the ranks they span:
/// {10, 20, 20, 30, 10} -> {1.5, 3.5, 3.5, 5, 1.5}. O(n log n).
std::vector<double> average_ranks(const std::vector<double> &x);

/// Pearson's correlation of x and y (two-pass); NaN when either is constant or n < 2.
double pearson(const std::vector<double> &x, const std::vector<double> &y);

/// Spearman's rank correlation: pearson(average_ranks(x), average_ranks(y)); NaN when either is
/// constant or n < 2.
double spearman(const std::vector<double> &x, const std::vector<double> &y);

/// Rank regression: rank(y) on rank(x_1), ..., rank(x_k), each standardised to mean 0 and
/// variance 1, so that the coefficients are the SRRCs and, for independent inputs, equal the
/// Spearman correlations. Solved from the k x k normal equations (the inputs' rank correlation
/// matrix) by a Cholesky factorisation with a pivot check, column by column in input order: an
/// input whose remaining pivot is <= 1e-10 (its ranks are, to that precision, a linear
/// combination of the ranks of earlier inputs: R^2 >= 1 - 1e-10) is aliased, like R's lm():
/// coefficient NaN, left out of the fit. Constant inputs get NaN and are left out too.
struct RankRegression {
    std::vector<double> coef; ///< [k] SRRC per input (NaN: constant or aliased input)
    double r2 = 0;            ///< R^2 of the rank regression (0 when no input is usable)
};

/// X: n x k, row-major (X[r * k + i] = input i in row r); y: n values. A constant y gives NaN
/// coefficients and R^2. Cost O(k n log n + n k^2 + k^3).
RankRegression srrc(const double *X, std::size_t n, std::size_t k, const double *y);

// --- rank importance with bootstrap confidence intervals -------------------------------------

/// Spearman correlations and SRRCs of the k inputs with one output, the R^2 of the rank
/// regression, and percentile-bootstrap confidence intervals (NaN when bootstrap = 0).
struct Importance {
    std::vector<double> spearman, spearman_lo, spearman_hi; ///< [k]
    std::vector<double> srrc, srrc_lo, srrc_hi;             ///< [k]
    double r2 = 0, r2_lo = 0, r2_hi = 0;
};

/// How a bootstrap replicate solves its SRRC normal equations G_b beta = rho_b.
///   direct: forms G_b (O(n k^2)) and factorises it (Cholesky with the check above, O(k^3)).
///   iterative: conjugate gradients preconditioned by the full sample's Cholesky factor, started
///     at the full sample's solution; each iteration is O(n k) and, as G_b differs from G by
///     O(sqrt(k / n)), few are needed (measured: about 8 at n = 20000, k = 100 and at n = 1e5,
///     k = 300; 25 at n = 2000, k = 300) to reach the stopping rule |residual|_2 <= 1e-11
///     max(1, |rho_b|_2). Falls back to `direct` for the replicate if it has not converged after
///     100 iterations.
///   automatic: iterative when more than 48 inputs are in the fit, direct otherwise.
/// Both solve the same equations: the results agree to about 1e-10, not bit for bit.
enum class SrrcSolver { automatic, direct, iterative };

struct RankImportanceOptions {
    SrrcSolver solver = SrrcSolver::automatic;
    /// Threads for the replicates: 0 = TBB's default (which respects a tbb::global_control).
    /// The result does not depend on it.
    int threads = 0;
    /// Each concurrently running replicate holds about 4 n (k + 1) + 40 n bytes of scratch; the
    /// thread count is lowered so that all of them fit in this budget (at least one thread).
    std::size_t memory_budget = std::size_t{1} << 30;
};

/// Rank importance of the k inputs (X: n x k, row-major) for the output y (n values), with B =
/// `bootstrap` percentile-bootstrap replicates at confidence `conf` (e.g. 0.95).
///
/// Cost: once, a sort of each input and of y, O((k + 1) n log n), the full-sample rank
/// correlation matrix, O(n k^2), and its factorisation, O(k^3). Then per replicate: draw the
/// resample (O(n)) and re-rank it without sorting: walking each column's presorted order with
/// the resample's multiplicities gives every drawn row its average rank in the resample in O(n)
/// per column (rows not drawn are skipped), O(n k); the Spearman correlations, O(n k); the SRRCs:
/// iterative solver O(n k) per iteration, direct O(n k^2 + k^3). Total with the iterative
/// solver O(B n k (1 + iterations) + k n log n + n k^2 + k^3).
/// Memory: the presorted orders, 4 n (k + 1) bytes, plus the scratch of each running replicate
/// (see RankImportanceOptions::memory_budget).
/// Measured (AMD EPYC, 2 cores shared with other jobs; CPU seconds, the same as wall seconds on
/// one idle core): n = 20000, k = 100, B = 200: 4.0 s (direct solver: 5.1 s), about 20 ms per
/// replicate; n = 1e5, k = 300, B = 200: 81 s (4.3 s of it the sorts and the full-sample fit,
/// 0.4 s per replicate, most of it the re-ranking), peak memory 600 MB with X's 240 MB.
Importance rank_importance(const double *X, std::size_t n, std::size_t k, const double *y,
                           int bootstrap, double conf, std::uint64_t seed);
Importance rank_importance(const double *X, std::size_t n, std::size_t k, const double *y,
                           int bootstrap, double conf, std::uint64_t seed,
                           const RankImportanceOptions &options);

// --- Sobol' indices (pick-freeze) ------------------------------------------------------------

/// The pick-freeze design: A and B are two independent n x k samples of the k inputs (row r of
/// each is one draw of the whole input vector); for each input i, AB_i is A with column i taken
/// from B. The model is evaluated at the n rows of A, of B and of every AB_i (n (k + 2) runs).
/// Matrices are numbered 0 = A, 1 = B, 2 + i = AB_i. pick_freeze_source(matrix, input) says
/// which base sample the coordinate `input` of a row of `matrix` comes from: 0 (A) or 1 (B):
/// A -> 0, B -> 1, AB_i -> 1 for input == i and 0 otherwise. Throws std::invalid_argument for
/// matrix < 0.
int pick_freeze_source(int matrix, std::size_t input);

/// A uniform (0, 1) coordinate of the design, independent across (base sample, row, input) and
/// reproducible: u = Stream(seed, row, q).uniform01() with q the quantity id of (base sample,
/// input) = pick_freeze_source(matrix, input); so AB_i's coordinate i equals B's and its others
/// equal A's exactly. Map it to an input's distribution by the inverse CDF. Rows must be < 2^32
/// (std::invalid_argument otherwise).
double pick_freeze_uniform(std::uint64_t seed, int matrix, std::size_t row, std::size_t input);

/// First-order and total Sobol' indices of one output, with percentile-bootstrap CIs.
struct SobolIndices {
    std::vector<double> first, first_lo, first_hi; ///< [k] S_i
    std::vector<double> total, total_lo, total_hi; ///< [k] ST_i
    double variance = 0; ///< V: variance (divisor 2n) of the 2n values of fA and fB together
};

/// fA, fB: the output at the n rows of A and B; fAB[i]: at the n rows of AB_i (k vectors).
///   S_i  = mean((fB - f0) (fAB_i - fA)) / V     (Saltelli et al. 2010, eq. (b) of table 2, with
///                                               fB centred on f0, the mean of fA and fB: the
///                                               same expectation, a smaller variance)
///   ST_i = mean((fA - fAB_i)^2) / (2 V)         (Jansen 1999)
/// V = 0 (the output is the same at every design point): the indices are NaN (no variance to
/// apportion) and `variance` is 0. The estimates are unbiased but not confined to [0, 1]: small
/// indices come out slightly negative, S_i may exceed ST_i, by sampling error.
/// The bootstrap resamples the n rows jointly across fA, fB and every fAB_i. Cost O(B n k).
SobolIndices sobol_indices(const std::vector<double> &fA, const std::vector<double> &fB,
                           const std::vector<std::vector<double>> &fAB, int bootstrap, double conf,
                           std::uint64_t seed);
/// The same with a thread count for the replicates (0 = TBB's default; no effect on results).
SobolIndices sobol_indices(const std::vector<double> &fA, const std::vector<double> &fB,
                           const std::vector<std::vector<double>> &fAB, int bootstrap, double conf,
                           std::uint64_t seed, int threads);

// --- bootstrap helpers ---------------------------------------------------------------------------

/// Names of the random streams of the two bootstraps (their quantity_id() keys the stream).
inline constexpr const char *kRankBootstrapStream = "sensitivity/rank_importance/bootstrap";
inline constexpr const char *kSobolBootstrapStream = "sensitivity/sobol_indices/bootstrap";

/// The row indices (each uniform on 0 .. n-1) resampled by bootstrap replicate `replicate` of the
/// stream named `stream` (one of the two above) with this seed, in draw order.
std::vector<std::uint32_t> bootstrap_indices(std::uint64_t seed, const char *stream,
                                             std::uint64_t replicate, std::size_t n);

/// The p-quantile (0 <= p <= 1) of the finite values of v, by linear interpolation between order
/// statistics (type 7); NaN when v has no finite value.
double bootstrap_quantile(std::vector<double> v, double p);

} // namespace chokepoint
