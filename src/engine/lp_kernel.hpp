// The inner loops of the dense simplex (lp.cpp), written without data-dependent branches and, on
// x86-64, two doubles per SSE2 step. Each gives exactly the bits of the plain scalar definition
// stated above it: every entry is computed by the same IEEE operations (no fused multiply-add:
// the project builds with -ffp-contract=off, and SSE2 has none), only the order in which
// independent entries are computed changes. tests/test_lp.cpp checks each against its
// definition on random sparse data, bit for bit.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace chokepoint::lp_kernel {

/// Rounding residue below which a tableau entry is set to zero (degenerate flow problems
/// otherwise drift into pivots on noise).
constexpr double kResidue = 1e-13;

/// Definition: `std::abs(v) < kResidue ? 0.0 : v` (a NaN is kept). With a mask instead of a
/// branch: exact cancellations are common and unpredictable.
inline double flush_residue(double v) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    const std::uint64_t keep = std::abs(v) < kResidue ? 0 : ~std::uint64_t{0};
    bits &= keep;
    std::memcpy(&v, &bits, sizeof bits);
    return v;
}

/// The first j < n with v[j] < bound, or -1 (Bland's rule).
inline int first_below(const double *v, int n, double bound) {
    for (int j = 0; j < n; ++j)
        if (v[j] < bound)
            return j;
    return -1;
}

/// Dantzig's rule. Definition: the scan `best = bound; for j: if (v[j] < best) { enter = j;
/// best = v[j]; }`, i.e. the first j holding the smallest v[j] below `bound`, or -1 (a NaN is
/// never chosen). The minimum is taken in four independent lanes (one running minimum is a
/// chain of dependent compares), then the first entry equal to it is the answer; a minimum is
/// exact, so the choice is the definition's.
inline int first_minimum_below(const double *v, int n, double bound) {
    double b0 = bound, b1 = bound, b2 = bound, b3 = bound;
    int j = 0;
#if defined(__SSE2__)
    // minpd(x, b) is x < b ? x : b lane by lane (b when x is NaN): the scalar step below.
    __m128d lo = _mm_set1_pd(bound), hi = lo;
    for (; j + 4 <= n; j += 4) {
        lo = _mm_min_pd(_mm_loadu_pd(v + j), lo);
        hi = _mm_min_pd(_mm_loadu_pd(v + j + 2), hi);
    }
    b0 = _mm_cvtsd_f64(lo);
    b1 = _mm_cvtsd_f64(_mm_unpackhi_pd(lo, lo));
    b2 = _mm_cvtsd_f64(hi);
    b3 = _mm_cvtsd_f64(_mm_unpackhi_pd(hi, hi));
#else
    for (; j + 4 <= n; j += 4) {
        b0 = v[j] < b0 ? v[j] : b0;
        b1 = v[j + 1] < b1 ? v[j + 1] : b1;
        b2 = v[j + 2] < b2 ? v[j + 2] : b2;
        b3 = v[j + 3] < b3 ? v[j + 3] : b3;
    }
#endif
    for (; j < n; ++j)
        b0 = v[j] < b0 ? v[j] : b0;
    const double best = std::min(std::min(b0, b1), std::min(b2, b3));
    if (!(best < bound))
        return -1;
    j = 0;
#if defined(__SSE2__)
    const __m128d target = _mm_set1_pd(best);
    for (; j + 2 <= n; j += 2) {
        const int eq = _mm_movemask_pd(_mm_cmpeq_pd(_mm_loadu_pd(v + j), target));
        if (eq != 0)
            return j + ((eq & 1) ? 0 : 1);
    }
#endif
    for (; j < n; ++j)
        if (v[j] == best)
            return j;
    return -1; // not reached
}

#if defined(__SSE2__)
/// For each 4-bit mask: the positions of its set bits in order (the rest 0), then their count.
inline constexpr std::int32_t kCompact[16][5] = {
    {0, 0, 0, 0, 0}, {0, 0, 0, 0, 1}, {1, 0, 0, 0, 1}, {0, 1, 0, 0, 2},
    {2, 0, 0, 0, 1}, {0, 2, 0, 0, 2}, {1, 2, 0, 0, 2}, {0, 1, 2, 0, 3},
    {3, 0, 0, 0, 1}, {0, 3, 0, 0, 2}, {1, 3, 0, 0, 2}, {0, 1, 3, 0, 3},
    {2, 3, 0, 0, 2}, {0, 2, 3, 0, 3}, {1, 2, 3, 0, 3}, {0, 1, 2, 3, 4}};
#endif

/// Scales the pivot row and lists its non-zeros. Definition: for each j < width in order,
/// `nonzero = row[j] != 0.0; row[j] = nonzero ? row[j] * inv : 0.0; if (nonzero) nz[cnt++] = j;`
/// (a zero, -0.0 included, becomes +0.0). `nz` holds at least `width` entries. Returns cnt.
inline std::size_t scale_row(double *row, int width, double inv, int *nz) {
    std::size_t cnt = 0;
    int j = 0;
#if defined(__SSE2__)
    const __m128d vinv = _mm_set1_pd(inv), zero = _mm_setzero_pd();
    for (; j + 4 <= width; j += 4) {
        const __m128d a = _mm_loadu_pd(row + j), b = _mm_loadu_pd(row + j + 2);
        const __m128d na = _mm_cmpneq_pd(a, zero), nb = _mm_cmpneq_pd(b, zero);
        _mm_storeu_pd(row + j, _mm_and_pd(_mm_mul_pd(a, vinv), na));
        _mm_storeu_pd(row + j + 2, _mm_and_pd(_mm_mul_pd(b, vinv), nb));
        const int mask = _mm_movemask_pd(na) | (_mm_movemask_pd(nb) << 2);
        // The group's non-zero positions, compacted by table, stored as four ints at once
        // (entries past the count are overwritten later; cnt + 4 <= j + 4 <= width).
        const __m128i at = _mm_add_epi32(
            _mm_loadu_si128(reinterpret_cast<const __m128i *>(kCompact[mask])), _mm_set1_epi32(j));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(nz + cnt), at);
        cnt += static_cast<std::size_t>(kCompact[mask][4]);
    }
#endif
    for (; j < width; ++j) {
        const bool nonzero = row[j] != 0.0;
        row[j] = nonzero ? row[j] * inv : 0.0;
        nz[cnt] = j;
        cnt += nonzero;
    }
    return cnt;
}

/// Eliminates along the pivot row in one row. Definition: for each k < cnt,
/// `row[nz[k]] = flush_residue(row[nz[k]] - f * pv[k])`.
inline void eliminate_row(double *row, double f, const int *nz, const double *pv, std::size_t cnt) {
    for (std::size_t k = 0; k < cnt; ++k)
        row[nz[k]] = flush_residue(row[nz[k]] - f * pv[k]);
}

/// eliminate_row on two distinct rows at once (r0 with f0, r1 with f1), two entries of each per
/// SSE2 step.
inline void eliminate_rows(double *r0, double *r1, double f0, double f1, const int *nz,
                           const double *pv, std::size_t cnt) {
    std::size_t k = 0;
#if defined(__SSE2__)
    const __m128d vf0 = _mm_set1_pd(f0), vf1 = _mm_set1_pd(f1);
    const __m128d tiny = _mm_set1_pd(kResidue), sign = _mm_set1_pd(-0.0);
    for (; k + 2 <= cnt; k += 2) {
        const int ja = nz[k], jb = nz[k + 1];
        const __m128d p = _mm_loadu_pd(pv + k);
        const __m128d a0 = _mm_loadh_pd(_mm_load_sd(r0 + ja), r0 + jb);
        const __m128d a1 = _mm_loadh_pd(_mm_load_sd(r1 + ja), r1 + jb);
        __m128d v0 = _mm_sub_pd(a0, _mm_mul_pd(vf0, p));
        __m128d v1 = _mm_sub_pd(a1, _mm_mul_pd(vf1, p));
        // Keep v unless |v| < kResidue (a NaN is kept): the mask of !(|v| < kResidue).
        v0 = _mm_and_pd(v0, _mm_cmpnlt_pd(_mm_andnot_pd(sign, v0), tiny));
        v1 = _mm_and_pd(v1, _mm_cmpnlt_pd(_mm_andnot_pd(sign, v1), tiny));
        _mm_storel_pd(r0 + ja, v0);
        _mm_storeh_pd(r0 + jb, v0);
        _mm_storel_pd(r1 + ja, v1);
        _mm_storeh_pd(r1 + jb, v1);
    }
#endif
    eliminate_row(r0, f0, nz + k, pv + k, cnt - k);
    eliminate_row(r1, f1, nz + k, pv + k, cnt - k);
}

/// Scratch of pivot_tableau, kept by its caller so that a pivot allocates nothing.
struct PivotScratch {
    std::vector<int> nz, rows;
    std::vector<double> pv;
};

/// The rows i < m whose entry in column c is not 0.0 (a NaN counts), ascending, into `rows`;
/// returns their count. Definition: `for i < m: if (tab[i][c] != 0.0) rows[cnt++] = i;`
/// (`rows` holds at least m entries).
inline std::size_t nonzero_rows(const double *tab, int m, int width, int c, int *rows) {
    std::size_t nr = 0;
    const double *col = tab + c;
    for (int i = 0; i < m; ++i) {
        rows[nr] = i;
        nr += col[static_cast<std::size_t>(i) * static_cast<std::size_t>(width)] != 0.0;
    }
    return nr;
}

namespace detail {
/// The elimination of pivot_tableau, given the rows to update (`rows[0, nr)`: every i <= m,
/// i != r, with tab[i][c] != 0, in any order: each row's update is its own).
inline void pivot_listed(double *tab, int width, int r, int c, const int *rows, std::size_t nr,
                         PivotScratch &s) {
    auto row_at = [&](int i) {
        return tab + static_cast<std::size_t>(i) * static_cast<std::size_t>(width);
    };
    double *prow = row_at(r);
    const double inv = 1.0 / prow[c];
    s.nz.resize(static_cast<std::size_t>(width));
    int *nz = s.nz.data();
    const std::size_t cnt = scale_row(prow, width, inv, nz);
    prow[c] = 1.0;
    s.pv.resize(cnt);
    double *pv = s.pv.data(); // the pivot row's non-zeros side by side
    for (std::size_t k = 0; k < cnt; ++k)
        pv[k] = prow[nz[k]];
    std::size_t q = 0;
    for (; q + 2 <= nr; q += 2) {
        double *r0 = row_at(rows[q]), *r1 = row_at(rows[q + 1]);
        eliminate_rows(r0, r1, r0[c], r1[c], nz, pv, cnt);
        r0[c] = 0.0;
        r1[c] = 0.0;
    }
    for (; q < nr; ++q) {
        double *row = row_at(rows[q]);
        eliminate_row(row, row[c], nz, pv, cnt);
        row[c] = 0.0;
    }
}
} // namespace detail

/// pivot_tableau when the rows i < m with a non-zero in column c are known already: `rows[0,
/// nr)` as nonzero_rows lists them (r among them), in s.rows (their count at least m + 1).
/// The same definition, the same bits; the column is not scanned again.
inline void pivot_tableau_rows(double *tab, int m, int width, int r, int c, std::size_t nr,
                               PivotScratch &s) {
    int *rows = s.rows.data();
    std::size_t kept = 0;
    for (std::size_t q = 0; q < nr; ++q) {
        rows[kept] = rows[q];
        kept += rows[q] != r;
    }
    rows[kept] = m; // the objective row, if its entry is not zero (and it is not row r)
    kept += (tab[static_cast<std::size_t>(m) * static_cast<std::size_t>(width) +
                 static_cast<std::size_t>(c)] != 0.0) &
            (m != r);
    detail::pivot_listed(tab, width, r, c, rows, kept, s);
}

/// Pivots the tableau `tab` ((m + 1) rows of `width`, row-major; row m the objective) on the
/// entry (r, c). Definition (the plain loop, and chokepoint's pivot before these kernels):
///
///     inv = 1 / tab[r][c];
///     for j < width: tab[r][j] = tab[r][j] != 0 ? tab[r][j] * inv : +0.0;   list j if != 0
///     tab[r][c] = 1;
///     for i <= m, i != r, f = tab[i][c] != 0:
///         for each listed j: tab[i][j] = flush_residue(tab[i][j] - f * tab[r][j]);
///         tab[i][c] = 0;
///
/// Only the pivot row's non-zeros are updated (flow tableaux stay sparse), in the rows with a
/// non-zero in column c, both listed without a branch per entry; rows two at a time. Every
/// entry is computed as in the definition, so the order changes no bit.
inline void pivot_tableau(double *tab, int m, int width, int r, int c, PivotScratch &s) {
    s.rows.resize(static_cast<std::size_t>(m) + 1);
    pivot_tableau_rows(tab, m, width, r, c, nonzero_rows(tab, m, width, c, s.rows.data()), s);
}

} // namespace chokepoint::lp_kernel
