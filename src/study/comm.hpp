// Message passing between the processes of one run (MPI). Rank 0 writes the file; the other
// ranks send it their blocks. Built without MPI, make_comm() returns nullptr (one process).
#pragma once

#include "stats/block.hpp"

#include <memory>

namespace chokepoint {

class Comm {
public:
    virtual ~Comm() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    /// Sends a finished block of every scenario (per-trial results and accumulators) to rank 0.
    virtual void send_block(const std::vector<BlockResult> &block) = 0;
    /// Tells rank 0 that this rank sends no more blocks; `early`: before the end of its range (a
    /// signal, a failure, or rank 0's stop), which rank 0 notices at once (early_end_pending).
    virtual void send_end(bool early) = 0;
    /// Rank 0: whether some rank has sent an early end that has not been received yet (never
    /// waits; rank 0 receives the ranks' messages in block order, so it would otherwise notice
    /// it only when it reaches that rank's next block).
    virtual bool early_end_pending() = 0;
    /// Receives the next message of rank `from` (rank 0): a block, unpacked into `out` with the
    /// dimensions `dims` (returns true), or its end (returns false).
    virtual bool receive(int from, const std::vector<Dims> &dims,
                         std::vector<BlockResult> &out) = 0;
    /// Rank 0's `value` on every rank (a collective call).
    virtual int broadcast(int value) = 0;
    /// Rank 0: tells every other rank to stop simulating (the stopping rule was met, a signal,
    /// a failure, or the run is over). Sends once; later calls do nothing. Rank 0 calls it at
    /// the latest before it drains the other ranks' end messages, so that each rank receives
    /// exactly one such message (await_stop).
    virtual void send_stop() = 0;
    /// Another rank: whether rank 0's stop message has come (never waits). Safe to call from a
    /// second thread while the pipeline sends blocks: every call of this object is serialised.
    virtual bool stop_requested() = 0;
    /// Another rank: waits for rank 0's stop message, if it has not come yet (after send_end).
    virtual void await_stop() = 0;
    /// Ends every process of the run with `code` (after a failure on one rank).
    [[noreturn]] virtual void abort(int code) = 0;
};

/// Initialises MPI when built with it (CHOKEPOINT_MPI) and started by mpirun/srun with more than
/// one process; nullptr otherwise. The object finalises MPI when destroyed.
std::unique_ptr<Comm> make_comm(int *argc, char ***argv);

/// A block as bytes and back (for messages between ranks); unpack checks sizes against `dims`
/// and throws std::runtime_error on a malformed message.
std::vector<char> pack(const BlockResult &block);
void unpack(const char *data, std::size_t size, const Dims &dims, BlockResult &out);
/// Blocks of every scenario (one message): each packed, with its size first.
std::vector<char> pack(const std::vector<BlockResult> &blocks);
void unpack(const char *data, std::size_t size, const std::vector<Dims> &dims,
            std::vector<BlockResult> &out);

} // namespace chokepoint
