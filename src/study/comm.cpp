#include "study/comm.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#ifdef CHOKEPOINT_WITH_MPI
// The C API only (the deprecated MPI C++ bindings would need libmpi_cxx).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace chokepoint {

namespace {
template <class T> void put(std::vector<char> &out, const std::vector<T> &v) {
    const std::uint64_t n = v.size();
    const auto *pn = reinterpret_cast<const char *>(&n);
    out.insert(out.end(), pn, pn + sizeof n);
    const auto *p = reinterpret_cast<const char *>(v.data());
    out.insert(out.end(), p, p + n * sizeof(T));
}

struct Cursor {
    const char *p, *end;
    /// The size of the vector that comes next (without taking it).
    std::uint64_t peek() const {
        std::uint64_t n = 0;
        if (end - p < static_cast<std::ptrdiff_t>(sizeof n))
            throw std::runtime_error("block message truncated");
        std::memcpy(&n, p, sizeof n);
        return n;
    }
    template <class T> void get(std::vector<T> &v, std::uint64_t expected) {
        std::uint64_t n = 0;
        if (end - p < static_cast<std::ptrdiff_t>(sizeof n))
            throw std::runtime_error("block message truncated");
        std::memcpy(&n, p, sizeof n);
        p += sizeof n;
        if (n != expected)
            throw std::runtime_error("block message has " + std::to_string(n) + " values where " +
                                     std::to_string(expected) + " were expected");
        if (static_cast<std::uint64_t>(end - p) < n * sizeof(T))
            throw std::runtime_error("block message truncated");
        v.resize(static_cast<std::size_t>(n));
        if (n)
            std::memcpy(v.data(), p, static_cast<std::size_t>(n * sizeof(T)));
        p += n * sizeof(T);
    }
};
} // namespace

std::vector<char> pack(const BlockResult &b) {
    std::vector<char> out;
    put(out, std::vector<std::uint64_t>{b.first_trial, b.count});
    put(out, b.shortfall);
    put(out, b.demand_total);
    put(out, b.shortfall_share);
    put(out, b.stockpile_min);
    put(out, b.short_months);
    put(out, b.longest_run);
    put(out, b.stockout_month);
    put(out, b.facility_binding_months);
    put(out, b.regime);
    put(out, b.event_onset);
    put(out, b.monthly_shortfall);
    put(out, b.inputs);
    put(out, b.weight);
    put(out, b.acc.save());
    // The tables packed for the file (BlockPacker), if any: a stamp, then each chunk's bytes.
    put(out, std::vector<std::uint64_t>{b.packed.size()});
    for (const auto &t : b.packed) {
        put(out, std::vector<std::uint64_t>{t.first_trial, t.rows, t.chunk_rows, t.row_values,
                                            t.elem, static_cast<std::uint64_t>(t.shuffle_pos + 1),
                                            static_cast<std::uint64_t>(t.deflate_pos + 1), t.level,
                                            t.chunks.size()});
        for (const auto &c : t.chunks)
            put(out, c);
    }
    return out;
}

std::vector<char> pack(const std::vector<BlockResult> &blocks) {
    std::vector<char> out;
    for (const auto &b : blocks) {
        const auto one = pack(b);
        const std::uint64_t n = one.size();
        const auto *pn = reinterpret_cast<const char *>(&n);
        out.insert(out.end(), pn, pn + sizeof n);
        out.insert(out.end(), one.begin(), one.end());
    }
    return out;
}

void unpack(const char *data, std::size_t size, const std::vector<Dims> &dims,
            std::vector<BlockResult> &out) {
    out.resize(dims.size());
    std::size_t at = 0;
    for (std::size_t k = 0; k < dims.size(); ++k) {
        std::uint64_t n = 0;
        if (size - at < sizeof n)
            throw std::runtime_error("block message truncated");
        std::memcpy(&n, data + at, sizeof n);
        at += sizeof n;
        if (size - at < n)
            throw std::runtime_error("block message truncated");
        unpack(data + at, static_cast<std::size_t>(n), dims[k], out[k]);
        at += static_cast<std::size_t>(n);
    }
    if (at != size)
        throw std::runtime_error("block message has trailing bytes");
}

void unpack(const char *data, std::size_t size, const Dims &d, BlockResult &b) {
    Cursor c{data, data + size};
    std::vector<std::uint64_t> head;
    c.get(head, 2);
    b.first_trial = head[0];
    b.count = head[1];
    const auto n = b.count, D = static_cast<std::uint64_t>(d.demands);
    c.get(b.shortfall, n * D);
    c.get(b.demand_total, n * D);
    c.get(b.shortfall_share, n * D);
    c.get(b.stockpile_min, n * D);
    c.get(b.short_months, n * D);
    c.get(b.longest_run, n * D);
    c.get(b.stockout_month, n * D);
    c.get(b.facility_binding_months, n * static_cast<std::uint64_t>(d.facilities));
    c.get(b.regime, n);
    c.get(b.event_onset, n * static_cast<std::uint64_t>(d.events));
    // Monthly shortfall is stored only when the run keeps it: either every value or none.
    {
        std::uint64_t m = 0;
        if (c.end - c.p < 8)
            throw std::runtime_error("block message truncated");
        std::memcpy(&m, c.p, 8);
        const auto full = n * D * static_cast<std::uint64_t>(d.months);
        c.get(b.monthly_shortfall, m == 0 ? 0 : full);
    }
    {
        std::uint64_t m = 0; // inputs: n x (inputs kept), or none
        if (c.end - c.p < 8)
            throw std::runtime_error("block message truncated");
        std::memcpy(&m, c.p, 8);
        if (n > 0 && m % n != 0)
            throw std::runtime_error("block message has a ragged inputs table");
        c.get(b.inputs, m);
    }
    c.get(b.weight, n);
    std::vector<std::uint64_t> words;
    {
        std::uint64_t m = 0;
        if (c.end - c.p < 8)
            throw std::runtime_error("block message truncated");
        std::memcpy(&m, c.p, 8);
        c.get(words, m);
    }
    b.acc = Accumulators::load(d, words);
    std::vector<std::uint64_t> count;
    c.get(count, 1);
    // At most one packed table per stored table (a handful), each of at most one chunk per row.
    if (count[0] > 64)
        throw std::runtime_error("block message has " + std::to_string(count[0]) +
                                 " packed tables");
    b.packed.resize(static_cast<std::size_t>(count[0]));
    for (auto &t : b.packed) {
        std::vector<std::uint64_t> s;
        c.get(s, 9);
        if (s[1] != n || s[2] == 0 || s[5] > 32 || s[6] > 32 || s[7] > 9 ||
            s[8] != (n + s[2] - 1) / s[2])
            throw std::runtime_error("block message has a malformed packed table");
        t.first_trial = s[0];
        t.rows = s[1];
        t.chunk_rows = s[2];
        t.row_values = s[3];
        t.elem = s[4];
        t.shuffle_pos = static_cast<int>(s[5]) - 1;
        t.deflate_pos = static_cast<int>(s[6]) - 1;
        t.level = static_cast<unsigned>(s[7]);
        t.chunks.resize(static_cast<std::size_t>(s[8]));
        for (auto &chunk : t.chunks)
            c.get(chunk, c.peek());
    }
    if (c.p != c.end)
        throw std::runtime_error("block message has trailing bytes");
}

#ifdef CHOKEPOINT_WITH_MPI
namespace {
constexpr int kTagBlock = 1, kTagEnd = 2, kTagStop = 3, kTagEndEarly = 4;

void check(int rc, const char *what) {
    if (rc != MPI_SUCCESS) {
        char msg[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc, msg, &len);
        throw std::runtime_error(std::string("MPI: ") + what + ": " + std::string(msg, len));
    }
}

// MPI is initialised with MPI_THREAD_SERIALIZED: one call at a time. Besides the thread that
// sends or receives the blocks, a watcher thread sends (rank 0) or polls for (the other ranks)
// the stop message, so every call holds mu_; waits poll (MPI_Iprobe) with mu_ released, so that
// the stop can go out while rank 0 waits for a block.
class MpiComm final : public Comm {
public:
    MpiComm(int rank, int size) : rank_(rank), size_(size) {}
    ~MpiComm() override {
        if (!stops_.empty()) // matched by each rank's await_stop before the final broadcast
            MPI_Waitall(static_cast<int>(stops_.size()), stops_.data(), MPI_STATUSES_IGNORE);
        MPI_Finalize();
    }
    int rank() const override { return rank_; }
    int size() const override { return size_; }
    void send_block(const std::vector<BlockResult> &block) override {
        const auto bytes = pack(block);
        if (bytes.size() > static_cast<std::size_t>(INT32_MAX))
            throw std::runtime_error("a block's message exceeds 2 GiB; lower run.block_size");
        std::lock_guard<std::mutex> g(mu_);
        check(MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, 0, kTagBlock,
                       MPI_COMM_WORLD),
              "sending a block");
    }
    void send_end(bool early) override {
        std::lock_guard<std::mutex> g(mu_);
        check(MPI_Send(nullptr, 0, MPI_BYTE, 0, early ? kTagEndEarly : kTagEnd, MPI_COMM_WORLD),
              "sending the end");
    }
    bool early_end_pending() override {
        std::lock_guard<std::mutex> g(mu_);
        int flag = 0;
        check(MPI_Iprobe(MPI_ANY_SOURCE, kTagEndEarly, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE),
              "polling for an early end");
        return flag != 0;
    }
    bool receive(int from, const std::vector<Dims> &dims, std::vector<BlockResult> &out) override {
        MPI_Status st;
        int count = 0;
        {
            std::unique_lock<std::mutex> g(mu_);
            for (int waits = 0;; ++waits) {
                int flag = 0;
                check(MPI_Iprobe(from, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st),
                      "waiting for a block");
                if (flag)
                    break;
                g.unlock();
                // A block takes from milliseconds to minutes: poll often at first.
                std::this_thread::sleep_for(std::chrono::microseconds(waits < 1000 ? 50 : 1000));
                g.lock();
            }
            MPI_Get_count(&st, MPI_BYTE, &count);
            buf_.resize(static_cast<std::size_t>(count));
            check(MPI_Recv(buf_.data(), count, MPI_BYTE, from, st.MPI_TAG, MPI_COMM_WORLD,
                           MPI_STATUS_IGNORE),
                  "receiving a block");
        }
        if (st.MPI_TAG == kTagEnd || st.MPI_TAG == kTagEndEarly)
            return false;
        unpack(buf_.data(), buf_.size(), dims, out);
        return true;
    }
    int broadcast(int value) override {
        std::lock_guard<std::mutex> g(mu_);
        check(MPI_Bcast(&value, 1, MPI_INT, 0, MPI_COMM_WORLD), "broadcast");
        return value;
    }
    void send_stop() override {
        std::lock_guard<std::mutex> g(mu_);
        if (rank_ != 0 || !stops_.empty())
            return;
        stops_.resize(static_cast<std::size_t>(size_ - 1));
        for (int r = 1; r < size_; ++r)
            check(MPI_Isend(nullptr, 0, MPI_BYTE, r, kTagStop, MPI_COMM_WORLD,
                            &stops_[static_cast<std::size_t>(r - 1)]),
                  "sending the stop");
    }
    bool stop_requested() override {
        std::lock_guard<std::mutex> g(mu_);
        if (!stopped_) {
            int flag = 0;
            check(MPI_Iprobe(0, kTagStop, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE),
                  "polling for the stop");
            if (flag) {
                check(
                    MPI_Recv(nullptr, 0, MPI_BYTE, 0, kTagStop, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
                    "receiving the stop");
                stopped_ = true;
            }
        }
        return stopped_;
    }
    void await_stop() override {
        std::lock_guard<std::mutex> g(mu_);
        if (!stopped_)
            check(MPI_Recv(nullptr, 0, MPI_BYTE, 0, kTagStop, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
                  "waiting for the stop");
        stopped_ = true;
    }
    [[noreturn]] void abort(int code) override {
        MPI_Abort(MPI_COMM_WORLD, code);
        std::abort();
    }

private:
    int rank_, size_;
    std::vector<char> buf_;
    std::mutex mu_;
    std::vector<MPI_Request> stops_; // rank 0: the stop messages sent
    bool stopped_ = false;           // another rank: the stop message received
};
} // namespace

std::unique_ptr<Comm> make_comm(int *argc, char ***argv) {
    // Launched by mpirun/srun? (A plain `chokepoint run` must not need an MPI runtime.)
    const bool launched = std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") ||
                          std::getenv("PMIX_RANK") || std::getenv("MPI_LOCALNRANKS");
    if (!launched)
        return nullptr;
    int provided = 0;
    // One thread at a time calls MPI: the pipeline's serial output stage, then the main thread.
    check(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided), "init");
    if (provided < MPI_THREAD_SERIALIZED) {
        MPI_Finalize();
        throw std::runtime_error("the MPI library does not support MPI_THREAD_SERIALIZED");
    }
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return std::make_unique<MpiComm>(rank, size);
}
#else
std::unique_ptr<Comm> make_comm(int *, char ***) {
    return nullptr;
}
#endif

} // namespace chokepoint
