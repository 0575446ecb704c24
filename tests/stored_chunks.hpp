// Comparing how two chunked HDF5 datasets are stored, chunk by chunk (for the tests of the
// writer's packed chunks: test_chunk_scan, test_end_to_end).
#pragma once

#include <H5Cpp.h>
#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

namespace chokepoint::test {

/// Checks that every stored chunk of `a` is stored in `b` at the same place with the same filter
/// mask and bytes, and that `b` stores no other chunk; returns the chunks compared.
inline std::size_t same_stored_chunks(H5::DataSet &a, H5::DataSet &b) {
    hsize_t na = 0, nb = 0;
    REQUIRE(H5Dget_num_chunks(a.getId(), a.getSpace().getId(), &na) >= 0);
    REQUIRE(H5Dget_num_chunks(b.getId(), b.getSpace().getId(), &nb) >= 0);
    REQUIRE(na == nb);
    const int rank = a.getSpace().getSimpleExtentNdims();
    for (hsize_t i = 0; i < na; ++i) {
        std::vector<hsize_t> off(static_cast<std::size_t>(rank));
        unsigned mask = 0;
        haddr_t addr = 0;
        hsize_t size_a = 0, size_b = 0;
        REQUIRE(H5Dget_chunk_info(a.getId(), a.getSpace().getId(), i, off.data(), &mask, &addr,
                                  &size_a) >= 0);
        REQUIRE(H5Dget_chunk_storage_size(b.getId(), off.data(), &size_b) >= 0);
        REQUIRE(size_a == size_b);
        std::vector<unsigned char> ra(size_a), rb(size_b);
        std::uint32_t ma = 0, mb = 0;
        REQUIRE(H5Dread_chunk(a.getId(), H5P_DEFAULT, off.data(), &ma, ra.data()) >= 0);
        REQUIRE(H5Dread_chunk(b.getId(), H5P_DEFAULT, off.data(), &mb, rb.data()) >= 0);
        CHECK(ma == mb);
        CHECK(ra == rb);
    }
    return static_cast<std::size_t>(na);
}

} // namespace chokepoint::test
