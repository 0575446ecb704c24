// Global sensitivity estimators (sensitivity.hpp).
//
// Rank statistics of a bootstrap resample without sorting it. Every column (each input and the
// output) is sorted once. A resample is described by the multiplicity c_r of each original row r
// (sum N = n). Walking a column's sorted order, a group of equal values (rows tied in the data,
// each repeated c_r times in the resample) of total multiplicity m occupies resample ranks S + 1 ..
// S + m, where S is the multiplicity of everything before it, so its average rank is S + (m + 1)/2.
// The rank is stored doubled and centred, d = 2 rank - (N + 1) = 2 S + m - N, an integer, for the
// rows drawn (c_r > 0) only; the resample's rank variance is sum_r c_r d_r^2 / (4 N). Spearman's
// rho and the rank correlation matrix of the resample are then weighted sums over the drawn rows
// (about 63 % of n).
#include "stats/sensitivity.hpp"

#include "core/random.hpp"

#include <boost/random/uniform_int_distribution.hpp>
#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

namespace chokepoint {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::uint32_t kTieFlag = 0x80000000u; // sorted order: "equal to the previous value"
constexpr std::uint32_t kRowMask = 0x7fffffffu;
constexpr double kAliasTol = 1e-10;       // Cholesky pivot check (relative to the diagonal, 1)
constexpr double kCgTol = 1e-11;          // CG: residual <= kCgTol * max(1, |rho|_2)
constexpr int kCgMaxIterations = 100;     // then the direct solver
constexpr std::size_t kIterativeMin = 48; // automatic: iterative for more inputs in the fit
constexpr std::size_t kChunk = 64;        // rows per block of the Gram kernel

void require(bool ok, const char *what) {
    if (!ok)
        throw std::invalid_argument(std::string("sensitivity: ") + what);
}

void check_bootstrap_args(int bootstrap, double conf) {
    require(bootstrap >= 0, "bootstrap must be >= 0");
    require(conf > 0 && conf < 1, "conf must be in (0, 1)");
}

/// A row's multiplicity in a resample and, when drawn, its index among the drawn rows (kept
/// together: re-ranking looks both up in one random access).
struct Slot {
    std::uint32_t count, cidx;
};

/// Sets the multiplicities of replicate b's resample (the draws of bootstrap_indices()).
void draw_counts(std::uint64_t seed, std::uint64_t qid, std::uint64_t replicate, std::size_t n,
                 std::vector<Slot> &slots) {
    slots.assign(n, Slot{0, 0});
    Stream s(seed, replicate, qid);
    boost::random::uniform_int_distribution<std::uint32_t> pick(0,
                                                                static_cast<std::uint32_t>(n - 1));
    for (std::size_t i = 0; i < n; ++i)
        ++slots[pick(s)].count;
}

/// Sum of a[i] * b[i] in a fixed order (four interleaved partial sums).
template <class A, class B> double dot(const A *a, const B *b, std::size_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += static_cast<double>(a[i]) * static_cast<double>(b[i]);
        s1 += static_cast<double>(a[i + 1]) * static_cast<double>(b[i + 1]);
        s2 += static_cast<double>(a[i + 2]) * static_cast<double>(b[i + 2]);
        s3 += static_cast<double>(a[i + 3]) * static_cast<double>(b[i + 3]);
    }
    for (; i < n; ++i)
        s0 += static_cast<double>(a[i]) * static_cast<double>(b[i]);
    return (s0 + s1) + (s2 + s3);
}

int concurrency(int threads) {
    return threads > 0 ? threads : std::max(1, tbb::this_task_arena::max_concurrency());
}

std::pair<double, double> interval(const std::vector<double> &reps, double conf) {
    if (reps.empty())
        return {kNaN, kNaN};
    return {bootstrap_quantile(reps, (1 - conf) / 2), bootstrap_quantile(reps, (1 + conf) / 2)};
}

// --- Cholesky with a pivot check -----------------------------------------------------------------

/// Factorises the a x a symmetric G (row-major; lower triangle read) as L L^T over the columns
/// that are not aliased: column j is aliased (keep[j] = 0) when its pivot, after the kept earlier
/// columns, is <= kAliasTol G_jj. L is a x a lower (rows and columns of aliased columns unused).
void cholesky_checked(const std::vector<double> &G, std::size_t a, std::vector<double> &L,
                      std::vector<char> &keep) {
    L.assign(a * a, 0.0);
    keep.assign(a, 0);
    for (std::size_t j = 0; j < a; ++j) {
        double s = G[j * a + j];
        for (std::size_t p = 0; p < j; ++p)
            if (keep[p])
                s -= L[j * a + p] * L[j * a + p];
        if (!(s > kAliasTol * G[j * a + j]))
            continue;
        keep[j] = 1;
        const double piv = std::sqrt(s);
        L[j * a + j] = piv;
        for (std::size_t i = j + 1; i < a; ++i) {
            double t = G[i * a + j];
            for (std::size_t p = 0; p < j; ++p)
                if (keep[p])
                    t -= L[i * a + p] * L[j * a + p];
            L[i * a + j] = t / piv;
        }
    }
}

/// Solves L L^T x = r over the kept columns (x = 0 at aliased ones).
void cholesky_solve(const std::vector<double> &L, const std::vector<char> &keep, std::size_t a,
                    const double *r, double *x) {
    for (std::size_t j = 0; j < a; ++j) {
        if (!keep[j]) {
            x[j] = 0;
            continue;
        }
        double t = r[j];
        for (std::size_t p = 0; p < j; ++p)
            if (keep[p])
                t -= L[j * a + p] * x[p];
        x[j] = t / L[j * a + j];
    }
    for (std::size_t j = a; j-- > 0;) {
        if (!keep[j])
            continue;
        double t = x[j];
        for (std::size_t i = j + 1; i < a; ++i)
            if (keep[i])
                t -= L[i * a + j] * x[i];
        x[j] = t / L[j * a + j];
    }
}

// --- presorted columns and resample ranks --------------------------------------------------------

/// The sorted order of every input column and of y (column k), ties flagged.
struct Presorted {
    std::size_t n = 0, k = 0;
    std::vector<std::uint32_t> order; // (k + 1) blocks of n rows: row | kTieFlag if tied with prev
    std::vector<char> constant;       // [k + 1]
    const std::uint32_t *column(std::size_t c) const { return order.data() + c * n; }
};

Presorted presort(const double *X, std::size_t n, std::size_t k, const double *y) {
    Presorted ps;
    ps.n = n;
    ps.k = k;
    ps.order.resize((k + 1) * n);
    ps.constant.assign(k + 1, 0);
    constexpr std::size_t kBlock = 8; // columns read together (one cache line of a row)
    const std::size_t blocks = (k + 1 + kBlock - 1) / kBlock;
    tbb::parallel_for(std::size_t{0}, blocks, [&](std::size_t blk) {
        const std::size_t c0 = blk * kBlock, c1 = std::min(k + 1, c0 + kBlock);
        std::vector<std::vector<std::pair<double, std::uint32_t>>> tmp(c1 - c0);
        for (auto &t : tmp)
            t.resize(n);
        for (std::size_t r = 0; r < n; ++r)
            for (std::size_t c = c0; c < c1; ++c)
                tmp[c - c0][r] = {c == k ? y[r] : X[r * k + c], static_cast<std::uint32_t>(r)};
        for (std::size_t c = c0; c < c1; ++c) {
            auto &t = tmp[c - c0];
            std::sort(t.begin(), t.end());
            std::uint32_t *out = ps.order.data() + c * n;
            out[0] = t[0].second;
            for (std::size_t i = 1; i < n; ++i)
                out[i] = t[i].second | (t[i].first == t[i - 1].first ? kTieFlag : 0u);
            ps.constant[c] = t[0].first == t[n - 1].first;
        }
    });
    return ps;
}

/// Writes the centred doubled resample ranks d of one column at D[cidx[row]] for the drawn rows
/// and returns sum_row counts[row] d^2.
double rerank(const std::uint32_t *order, std::size_t n, const Slot *slots, std::int64_t N,
              std::int32_t *D) {
    std::int64_t S = 0;
    double ss = 0;
    std::size_t t = 0;
    while (t < n) {
        if (t + 1 == n || !(order[t + 1] & kTieFlag)) { // a value of its own (the usual case)
            const Slot sl = slots[order[t] & kRowMask];
            const std::int64_t c = sl.count;
            if (c) {
                const std::int64_t d = 2 * S + c - N;
                D[sl.cidx] = static_cast<std::int32_t>(d);
                ss += static_cast<double>(c) * static_cast<double>(d * d);
                S += c;
            }
            ++t;
            continue;
        }
        std::size_t t1 = t + 1;
        while (t1 < n && (order[t1] & kTieFlag))
            ++t1;
        std::int64_t m = 0;
        for (std::size_t u = t; u < t1; ++u)
            m += slots[order[u] & kRowMask].count;
        if (m) {
            const std::int64_t d = 2 * S + m - N;
            for (std::size_t u = t; u < t1; ++u) {
                const Slot sl = slots[order[u] & kRowMask];
                if (sl.count)
                    D[sl.cidx] = static_cast<std::int32_t>(d);
            }
            ss += static_cast<double>(m) * static_cast<double>(d * d);
            S += m;
        }
        t = t1;
    }
    return ss;
}

/// Per-thread work space of one evaluation (the full sample or a replicate).
struct Scratch {
    std::vector<Slot> slots;
    std::vector<double> w, wy, u, wu;
    std::vector<std::int32_t> D; // column c at D[c * n], the m drawn rows
    std::vector<double> scale;   // [k + 1]: z = d * scale; 0 = constant in this (re)sample
    std::size_t m = 0;
    double N = 0;

    void init(std::size_t n, std::size_t k) {
        slots.resize(n);
        w.resize(n);
        wy.resize(n);
        u.resize(n);
        wu.resize(n);
        D.resize(n * (k + 1));
        scale.resize(k + 1);
    }
};

/// The lower triangle rows [a0, a1) of G_ab = s_a s_b / N sum_j w_j d_ja d_jb over the columns
/// `cols` (G is a x a row-major, a = cols.size()).
void gram_rows(const Scratch &sc, std::size_t n, const std::vector<std::size_t> &cols,
               std::size_t a0, std::size_t a1, std::vector<double> &G) {
    const std::size_t a = cols.size();
    std::vector<double> acc((a1 - a0) * a1, 0.0);
    std::vector<double> Z(a1 * kChunk), WZ((a1 - a0) * kChunk);
    for (std::size_t r0 = 0; r0 < sc.m; r0 += kChunk) {
        const std::size_t len = std::min(kChunk, sc.m - r0);
        const std::size_t padded = (len + 3) / 4 * 4;
        for (std::size_t b = 0; b < a1; ++b) {
            const std::int32_t *col = sc.D.data() + cols[b] * n + r0;
            double *z = Z.data() + b * kChunk;
            for (std::size_t r = 0; r < len; ++r)
                z[r] = static_cast<double>(col[r]);
            for (std::size_t r = len; r < padded; ++r)
                z[r] = 0;
        }
        for (std::size_t i = a0; i < a1; ++i) {
            double *wz = WZ.data() + (i - a0) * kChunk;
            const double *z = Z.data() + i * kChunk;
            for (std::size_t r = 0; r < padded; ++r)
                wz[r] = z[r] * (r < len ? sc.w[r0 + r] : 0.0);
            double *row = acc.data() + (i - a0) * a1;
            for (std::size_t b = 0; b <= i; ++b)
                row[b] += dot(wz, Z.data() + b * kChunk, padded);
        }
    }
    for (std::size_t i = a0; i < a1; ++i)
        for (std::size_t b = 0; b <= i; ++b) {
            const double g = acc[(i - a0) * a1 + b] * sc.scale[cols[i]] * sc.scale[cols[b]] / sc.N;
            G[i * a + b] = g;
            G[b * a + i] = g;
        }
}

std::vector<double> gram(const Scratch &sc, std::size_t n, const std::vector<std::size_t> &cols,
                         bool parallel) {
    const std::size_t a = cols.size();
    std::vector<double> G(a * a, 0.0);
    if (!parallel || a < 16) {
        gram_rows(sc, n, cols, 0, a, G);
        return G;
    }
    constexpr std::size_t kRows = 8;
    tbb::parallel_for(std::size_t{0}, (a + kRows - 1) / kRows, [&](std::size_t blk) {
        gram_rows(sc, n, cols, blk * kRows, std::min(a, (blk + 1) * kRows), G);
    });
    return G;
}

/// The rank statistics of one (re)sample.
struct Fit {
    std::vector<double> rho, beta; // [k]
    double r2 = kNaN;
};

/// The full sample's fit, kept for the replicates.
struct Reference {
    std::vector<std::size_t> fit;   // inputs in the fit (not constant, not aliased)
    std::vector<double> G, L, beta; // on `fit`: correlation matrix, its factor, solution
    std::vector<char> keep;         // all 1 in exact arithmetic: L is of `fit` alone
};

class RankProblem {
public:
    RankProblem(const double *X, std::size_t n, std::size_t k, const double *y)
        : n_(n), k_(k), ps_(presort(X, n, k, y)) {}

    std::size_t scratch_bytes() const { return 4 * n_ * (k_ + 1) + 40 * n_; }

    /// Ranks and Spearman correlations of the (re)sample whose multiplicities are in sc.slots.
    /// Returns false when y is constant in it.
    bool rank_and_correlate(Scratch &sc, Fit &f) const {
        const std::size_t n = n_, k = k_;
        sc.m = 0;
        std::int64_t N = 0;
        for (std::size_t r = 0; r < n; ++r)
            if (sc.slots[r].count) {
                sc.slots[r].cidx = static_cast<std::uint32_t>(sc.m);
                sc.w[sc.m++] = sc.slots[r].count;
                N += sc.slots[r].count;
            }
        sc.N = static_cast<double>(N);
        for (std::size_t c = 0; c <= k; ++c) {
            sc.scale[c] = 0;
            if (ps_.constant[c])
                continue;
            const double ss = rerank(ps_.column(c), n, sc.slots.data(), N, sc.D.data() + c * n);
            if (ss > 0)
                sc.scale[c] = std::sqrt(sc.N / ss);
        }
        f.rho.assign(k, kNaN);
        f.beta.assign(k, kNaN);
        f.r2 = kNaN;
        if (sc.scale[k] == 0)
            return false;
        const std::int32_t *dy = sc.D.data() + k * n;
        for (std::size_t j = 0; j < sc.m; ++j)
            sc.wy[j] = sc.w[j] * static_cast<double>(dy[j]);
        for (std::size_t i = 0; i < k; ++i)
            if (sc.scale[i] > 0)
                f.rho[i] = std::clamp(dot(sc.D.data() + i * n, sc.wy.data(), sc.m) * sc.scale[i] *
                                          sc.scale[k] / sc.N,
                                      -1.0, 1.0);
        return true;
    }

    /// Direct solution on `cols` (Cholesky with the pivot check); fills f.beta, f.r2.
    void solve_direct(const Scratch &sc, const std::vector<std::size_t> &cols, bool parallel,
                      Fit &f, Reference *ref) const {
        const std::size_t a = cols.size();
        const std::vector<double> G = gram(sc, n_, cols, parallel);
        std::vector<double> L, rhs(a), x(a);
        std::vector<char> keep;
        cholesky_checked(G, a, L, keep);
        for (std::size_t i = 0; i < a; ++i)
            rhs[i] = f.rho[cols[i]];
        cholesky_solve(L, keep, a, rhs.data(), x.data());
        f.r2 = 0;
        for (std::size_t i = 0; i < a; ++i)
            if (keep[i]) {
                f.beta[cols[i]] = x[i];
                f.r2 += x[i] * rhs[i];
            }
        if (ref) {
            for (std::size_t i = 0; i < a; ++i)
                if (keep[i]) {
                    ref->fit.push_back(cols[i]);
                    ref->beta.push_back(x[i]);
                }
            const std::size_t a2 = ref->fit.size();
            ref->G.assign(a2 * a2, 0.0);
            for (std::size_t i = 0, ii = 0; i < a; ++i) {
                if (!keep[i])
                    continue;
                for (std::size_t j = 0, jj = 0; j < a; ++j)
                    if (keep[j])
                        ref->G[ii * a2 + jj++] = G[i * a + j];
                ++ii;
            }
            cholesky_checked(ref->G, a2, ref->L, ref->keep);
        }
    }

    /// q = G_b p on `cols` (size a).
    void gram_times(Scratch &sc, const std::vector<std::size_t> &cols, const double *p,
                    double *q) const {
        const std::size_t m = sc.m;
        double *u = sc.u.data();
        std::fill(u, u + m, 0.0);
        for (std::size_t i = 0; i < cols.size(); ++i) {
            const double c = sc.scale[cols[i]] * p[i];
            const std::int32_t *col = sc.D.data() + cols[i] * n_;
            for (std::size_t j = 0; j < m; ++j)
                u[j] += c * static_cast<double>(col[j]);
        }
        for (std::size_t j = 0; j < m; ++j)
            sc.wu[j] = sc.w[j] * u[j];
        for (std::size_t i = 0; i < cols.size(); ++i)
            q[i] = dot(sc.D.data() + cols[i] * n_, sc.wu.data(), m) * sc.scale[cols[i]] / sc.N;
    }

    /// Preconditioned conjugate gradients on `cols` (a subset of ref.fit, in its order).
    /// Returns false when it did not converge.
    bool solve_iterative(Scratch &sc, const std::vector<std::size_t> &cols,
                         const std::vector<std::size_t> &pos, const Reference &ref, Fit &f) const {
        const std::size_t a = cols.size();
        const std::vector<double> *L = &ref.L;
        const std::vector<char> *keep = &ref.keep;
        std::vector<double> Lsub;
        std::vector<char> keepsub;
        if (a != ref.fit.size()) { // an input of the fit is constant in this resample
            const std::size_t a2 = ref.fit.size();
            std::vector<double> Gs(a * a);
            for (std::size_t i = 0; i < a; ++i)
                for (std::size_t j = 0; j < a; ++j)
                    Gs[i * a + j] = ref.G[pos[i] * a2 + pos[j]];
            cholesky_checked(Gs, a, Lsub, keepsub);
            if (std::find(keepsub.begin(), keepsub.end(), 0) != keepsub.end())
                return false;
            L = &Lsub;
            keep = &keepsub;
        }
        std::vector<double> x(a), r(a), z(a), p(a), q(a), rhs(a);
        double rnorm = 0;
        for (std::size_t i = 0; i < a; ++i) {
            x[i] = ref.beta[pos[i]];
            rhs[i] = f.rho[cols[i]];
            rnorm += rhs[i] * rhs[i];
        }
        const double tol = kCgTol * std::max(1.0, std::sqrt(rnorm));
        gram_times(sc, cols, x.data(), q.data());
        for (std::size_t i = 0; i < a; ++i)
            r[i] = rhs[i] - q[i];
        cholesky_solve(*L, *keep, a, r.data(), z.data());
        p = z;
        double rz = dot(r.data(), z.data(), a);
        bool converged = false;
        for (int it = 0; it <= kCgMaxIterations; ++it) {
            if (std::sqrt(dot(r.data(), r.data(), a)) <= tol) {
                converged = true;
                break;
            }
            if (it == kCgMaxIterations)
                break;
            gram_times(sc, cols, p.data(), q.data());
            const double pq = dot(p.data(), q.data(), a);
            if (!(pq > 0))
                break;
            const double alpha = rz / pq;
            for (std::size_t i = 0; i < a; ++i) {
                x[i] += alpha * p[i];
                r[i] -= alpha * q[i];
            }
            cholesky_solve(*L, *keep, a, r.data(), z.data());
            const double rz_new = dot(r.data(), z.data(), a);
            const double beta = rz_new / rz;
            rz = rz_new;
            for (std::size_t i = 0; i < a; ++i)
                p[i] = z[i] + beta * p[i];
        }
        if (!converged)
            return false;
        f.r2 = 0;
        for (std::size_t i = 0; i < a; ++i) {
            f.beta[cols[i]] = x[i];
            f.r2 += x[i] * rhs[i];
        }
        return true;
    }

    /// The full sample: counts all 1.
    Fit full(Scratch &sc, Reference &ref) const {
        std::fill(sc.slots.begin(), sc.slots.end(), Slot{1, 0});
        Fit f;
        if (!rank_and_correlate(sc, f))
            return f;
        std::vector<std::size_t> cols;
        for (std::size_t i = 0; i < k_; ++i)
            if (sc.scale[i] > 0)
                cols.push_back(i);
        solve_direct(sc, cols, true, f, &ref);
        return f;
    }

    /// A replicate (sc.slots' counts drawn).
    Fit replicate(Scratch &sc, const Reference &ref, SrrcSolver solver) const {
        Fit f;
        if (!rank_and_correlate(sc, f))
            return f;
        std::vector<std::size_t> cols, pos;
        for (std::size_t i = 0; i < ref.fit.size(); ++i)
            if (sc.scale[ref.fit[i]] > 0) {
                cols.push_back(ref.fit[i]);
                pos.push_back(i);
            }
        const bool iterative = solver == SrrcSolver::iterative ||
                               (solver == SrrcSolver::automatic && cols.size() > kIterativeMin);
        if (!iterative || !solve_iterative(sc, cols, pos, ref, f))
            solve_direct(sc, cols, false, f, nullptr);
        return f;
    }

    std::size_t n() const { return n_; }
    std::size_t k() const { return k_; }

private:
    std::size_t n_, k_;
    Presorted ps_;
};

void check_rank_args(const double *X, std::size_t n, std::size_t k, const double *y) {
    require(n > 0, "n must be > 0");
    require(n < (std::size_t{1} << 31), "n must be < 2^31");
    require(k == 0 || X != nullptr, "X is null");
    require(y != nullptr, "y is null");
    for (std::size_t i = 0; i < n * k; ++i)
        require(std::isfinite(X[i]), "X has a NaN or infinite value");
    for (std::size_t i = 0; i < n; ++i)
        require(std::isfinite(y[i]), "y has a NaN or infinite value");
}

} // namespace

// --- ranks ---------------------------------------------------------------------------------------

std::vector<double> average_ranks(const std::vector<double> &x) {
    const std::size_t n = x.size();
    for (double v : x)
        require(!std::isnan(v), "average_ranks: NaN value");
    std::vector<std::size_t> idx(n);
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    std::sort(idx.begin(), idx.end(),
              [&](std::size_t a, std::size_t b) { return x[a] < x[b] || (x[a] == x[b] && a < b); });
    std::vector<double> r(n);
    for (std::size_t t = 0; t < n;) {
        std::size_t t1 = t + 1;
        while (t1 < n && x[idx[t1]] == x[idx[t]])
            ++t1;
        const double avg = (static_cast<double>(t + 1) + static_cast<double>(t1)) / 2;
        for (std::size_t u = t; u < t1; ++u)
            r[idx[u]] = avg;
        t = t1;
    }
    return r;
}

double pearson(const std::vector<double> &x, const std::vector<double> &y) {
    require(x.size() == y.size(), "pearson: x and y differ in length");
    const std::size_t n = x.size();
    if (n < 2)
        return kNaN;
    double mx = 0, my = 0;
    for (std::size_t i = 0; i < n; ++i) {
        mx += x[i];
        my += y[i];
    }
    mx /= static_cast<double>(n);
    my /= static_cast<double>(n);
    double sxy = 0, sxx = 0, syy = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (!(sxx > 0) || !(syy > 0))
        return kNaN;
    return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

double spearman(const std::vector<double> &x, const std::vector<double> &y) {
    require(x.size() == y.size(), "spearman: x and y differ in length");
    return pearson(average_ranks(x), average_ranks(y));
}

RankRegression srrc(const double *X, std::size_t n, std::size_t k, const double *y) {
    check_rank_args(X, n, k, y);
    const RankProblem prob(X, n, k, y);
    Scratch sc;
    sc.init(n, k);
    Reference ref;
    const Fit f = prob.full(sc, ref);
    return {f.beta, f.r2};
}

// --- rank importance -----------------------------------------------------------------------------

Importance rank_importance(const double *X, std::size_t n, std::size_t k, const double *y,
                           int bootstrap, double conf, std::uint64_t seed) {
    return rank_importance(X, n, k, y, bootstrap, conf, seed, RankImportanceOptions{});
}

Importance rank_importance(const double *X, std::size_t n, std::size_t k, const double *y,
                           int bootstrap, double conf, std::uint64_t seed,
                           const RankImportanceOptions &options) {
    check_rank_args(X, n, k, y);
    check_bootstrap_args(bootstrap, conf);
    const RankProblem prob(X, n, k, y);
    Reference ref;
    Fit point;
    {
        Scratch sc;
        sc.init(n, k);
        point = prob.full(sc, ref);
    }
    Importance out;
    out.spearman = point.rho;
    out.srrc = point.beta;
    out.r2 = point.r2;
    out.spearman_lo.assign(k, kNaN);
    out.spearman_hi.assign(k, kNaN);
    out.srrc_lo.assign(k, kNaN);
    out.srrc_hi.assign(k, kNaN);
    out.r2_lo = out.r2_hi = kNaN;
    if (bootstrap == 0)
        return out;

    const auto B = static_cast<std::size_t>(bootstrap);
    std::vector<Fit> reps(B);
    const std::uint64_t qid = quantity_id(kRankBootstrapStream);
    const std::size_t by_memory = std::max<std::size_t>(
        1, options.memory_budget / std::max<std::size_t>(1, prob.scratch_bytes()));
    const int threads = static_cast<int>(
        std::min<std::size_t>(by_memory, static_cast<std::size_t>(concurrency(options.threads))));
    tbb::enumerable_thread_specific<Scratch> scratch([&] {
        Scratch sc;
        sc.init(n, k);
        return sc;
    });
    tbb::task_arena arena(threads);
    arena.execute([&] {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, B, 1), [&](const auto &range) {
            Scratch &sc = scratch.local();
            for (std::size_t b = range.begin(); b != range.end(); ++b) {
                draw_counts(seed, qid, b, n, sc.slots);
                reps[b] = prob.replicate(sc, ref, options.solver);
            }
        });
    });

    std::vector<double> v;
    v.reserve(B);
    auto collect = [&](auto get) {
        v.clear();
        for (const Fit &f : reps) {
            const double x = get(f);
            if (std::isfinite(x))
                v.push_back(x);
        }
        return interval(v, conf);
    };
    for (std::size_t i = 0; i < k; ++i) {
        std::tie(out.spearman_lo[i], out.spearman_hi[i]) =
            collect([i](const Fit &f) { return f.rho[i]; });
        std::tie(out.srrc_lo[i], out.srrc_hi[i]) = collect([i](const Fit &f) { return f.beta[i]; });
    }
    std::tie(out.r2_lo, out.r2_hi) = collect([](const Fit &f) { return f.r2; });
    return out;
}

// --- Sobol' indices ------------------------------------------------------------------------------

int pick_freeze_source(int matrix, std::size_t input) {
    require(matrix >= 0, "pick_freeze_source: matrix must be >= 0 (0 = A, 1 = B, 2 + i = AB_i)");
    if (matrix < 2)
        return matrix;
    return static_cast<std::size_t>(matrix - 2) == input ? 1 : 0;
}

double pick_freeze_uniform(std::uint64_t seed, int matrix, std::size_t row, std::size_t input) {
    const int src = pick_freeze_source(matrix, input);
    require(row < (std::size_t{1} << 32), "pick_freeze_uniform: row must be < 2^32");
    static const std::uint64_t base[2] = {quantity_id("sensitivity/pick_freeze/A"),
                                          quantity_id("sensitivity/pick_freeze/B")};
    // SplitMix64 of (base ^ input): one stream per (base sample, input).
    std::uint64_t q = base[src] ^ (static_cast<std::uint64_t>(input) * 0x9e3779b97f4a7c15ull);
    q ^= q >> 30;
    q *= 0xbf58476d1ce4e5b9ull;
    q ^= q >> 27;
    q *= 0x94d049bb133111ebull;
    q ^= q >> 31;
    return Stream(seed, row, q).uniform01();
}

namespace {

struct SobolRep {
    std::vector<double> first, total; // [k]
};

/// The indices for the rows `rows` with multiplicities `mult` (N = their sum).
SobolRep sobol_eval(const std::vector<double> &fA, const std::vector<double> &fB,
                    const std::vector<std::vector<double>> &fAB,
                    const std::vector<std::uint32_t> &rows, const std::vector<double> &mult,
                    double *variance) {
    const std::size_t k = fAB.size(), m = rows.size();
    double N = 0, s = 0;
    for (std::size_t j = 0; j < m; ++j) {
        N += mult[j];
        s += mult[j] * (fA[rows[j]] + fB[rows[j]]);
    }
    const double mean = s / (2 * N);
    double ss = 0;
    for (std::size_t j = 0; j < m; ++j) {
        const double a = fA[rows[j]] - mean, b = fB[rows[j]] - mean;
        ss += mult[j] * (a * a + b * b);
    }
    const double V = ss / (2 * N);
    if (variance)
        *variance = V;
    SobolRep rep;
    rep.first.assign(k, kNaN);
    rep.total.assign(k, kNaN);
    if (!(V > 0))
        return rep;
    for (std::size_t i = 0; i < k; ++i) {
        const double *ab = fAB[i].data();
        double s1 = 0, st = 0;
        for (std::size_t j = 0; j < m; ++j) {
            const std::uint32_t r = rows[j];
            const double diff = ab[r] - fA[r];
            // f(B) centred on the sample mean: the same expectation (E[f(AB_i) - f(A)] = 0) and
            // a smaller variance when the output's mean is large against its spread.
            s1 += mult[j] * ((fB[r] - mean) * diff);
            st += mult[j] * (diff * diff);
        }
        rep.first[i] = s1 / N / V;
        rep.total[i] = st / (2 * N) / V;
    }
    return rep;
}

} // namespace

SobolIndices sobol_indices(const std::vector<double> &fA, const std::vector<double> &fB,
                           const std::vector<std::vector<double>> &fAB, int bootstrap, double conf,
                           std::uint64_t seed) {
    return sobol_indices(fA, fB, fAB, bootstrap, conf, seed, 0);
}

SobolIndices sobol_indices(const std::vector<double> &fA, const std::vector<double> &fB,
                           const std::vector<std::vector<double>> &fAB, int bootstrap, double conf,
                           std::uint64_t seed, int threads) {
    check_bootstrap_args(bootstrap, conf);
    const std::size_t n = fA.size(), k = fAB.size();
    require(n > 0, "sobol_indices: n must be > 0");
    require(n < (std::size_t{1} << 31), "sobol_indices: n must be < 2^31");
    require(fB.size() == n, "sobol_indices: fA and fB differ in length");
    for (std::size_t i = 0; i < k; ++i)
        require(fAB[i].size() == n, "sobol_indices: an fAB[i] differs in length from fA");
    auto finite = [](const std::vector<double> &v) {
        return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
    };
    require(finite(fA) && finite(fB), "sobol_indices: fA or fB has a NaN or infinite value");
    for (const auto &v : fAB)
        require(finite(v), "sobol_indices: fAB has a NaN or infinite value");

    std::vector<std::uint32_t> all(n);
    std::iota(all.begin(), all.end(), 0u);
    SobolIndices out;
    {
        SobolRep p = sobol_eval(fA, fB, fAB, all, std::vector<double>(n, 1.0), &out.variance);
        out.first = std::move(p.first);
        out.total = std::move(p.total);
    }
    out.first_lo.assign(k, kNaN);
    out.first_hi.assign(k, kNaN);
    out.total_lo.assign(k, kNaN);
    out.total_hi.assign(k, kNaN);
    if (bootstrap == 0)
        return out;

    const auto B = static_cast<std::size_t>(bootstrap);
    std::vector<SobolRep> reps(B);
    const std::uint64_t qid = quantity_id(kSobolBootstrapStream);
    tbb::task_arena arena(concurrency(threads));
    arena.execute([&] {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, B, 1), [&](const auto &range) {
            std::vector<Slot> slots;
            std::vector<std::uint32_t> rows;
            std::vector<double> mult;
            for (std::size_t b = range.begin(); b != range.end(); ++b) {
                draw_counts(seed, qid, b, n, slots);
                rows.clear();
                mult.clear();
                for (std::size_t r = 0; r < n; ++r)
                    if (slots[r].count) {
                        rows.push_back(static_cast<std::uint32_t>(r));
                        mult.push_back(slots[r].count);
                    }
                reps[b] = sobol_eval(fA, fB, fAB, rows, mult, nullptr);
            }
        });
    });
    std::vector<double> v;
    v.reserve(B);
    for (std::size_t i = 0; i < k; ++i) {
        v.clear();
        for (const auto &r : reps)
            if (std::isfinite(r.first[i]))
                v.push_back(r.first[i]);
        std::tie(out.first_lo[i], out.first_hi[i]) = interval(v, conf);
        v.clear();
        for (const auto &r : reps)
            if (std::isfinite(r.total[i]))
                v.push_back(r.total[i]);
        std::tie(out.total_lo[i], out.total_hi[i]) = interval(v, conf);
    }
    return out;
}

// --- bootstrap helpers ---------------------------------------------------------------------------

std::vector<std::uint32_t> bootstrap_indices(std::uint64_t seed, const char *stream,
                                             std::uint64_t replicate, std::size_t n) {
    require(n > 0 && n < (std::size_t{1} << 31), "bootstrap_indices: n must be in [1, 2^31)");
    Stream s(seed, replicate, quantity_id(stream));
    boost::random::uniform_int_distribution<std::uint32_t> pick(0,
                                                                static_cast<std::uint32_t>(n - 1));
    std::vector<std::uint32_t> out(n);
    for (auto &i : out)
        i = pick(s);
    return out;
}

double bootstrap_quantile(std::vector<double> v, double p) {
    require(p >= 0 && p <= 1, "bootstrap_quantile: p must be in [0, 1]");
    v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }),
            v.end());
    if (v.empty())
        return kNaN;
    std::sort(v.begin(), v.end());
    const double h = static_cast<double>(v.size() - 1) * p;
    const auto lo = static_cast<std::size_t>(std::floor(h));
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (h - static_cast<double>(lo));
}

} // namespace chokepoint
