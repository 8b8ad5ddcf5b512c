// Drives the FIFOs of fifo_dut (one per channel, each with its own stimulus) and checks them.
// usage: Vfifo_dut SEED STALL_CYCLES RATE_CYCLES RANDOM_CYCLES
// Phases: (1) from empty, the producer always offers and the consumer waits STALL_CYCLES: the
// beats each FIFO takes (its room) and the cycles from the first beat in to out_valid (its
// latency); (2) both sides always willing for RATE_CYCLES: the beats out in its second half;
// (3) seeded random gaps on both sides; (4) drain.  Every beat out is checked against the beats
// in, in order.  Prints one line per channel:
//   ch <c> room <n> latency <n> rate <n> sent <n> received <n> mismatches <n> first <beat or -1>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "Vfifo_dut.h"
#include "fifo_dut_config.h"
#include "verilated.h"

static const int N = FIFO_CHANNELS;
static const int BITS = 16;

static uint32_t beat_value(uint32_t k) { return (k * 2654435761u >> 9) & ((1u << BITS) - 1); }

struct Channel {
  uint64_t sent = 0, received = 0, mismatches = 0;
  int64_t first = -1;
  bool offering = false;
};

static uint64_t rng_state;
static uint32_t rnd() {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(rng_state >> 33);
}

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s SEED STALL_CYCLES RATE_CYCLES RANDOM_CYCLES\n", argv[0]);
    return 2;
  }
  rng_state = std::strtoull(argv[1], nullptr, 10) + 1;
  const long stall = std::atol(argv[2]), rate = std::atol(argv[3]), random = std::atol(argv[4]);
  Verilated::commandArgs(argc, argv);
  Vfifo_dut dut;
  Channel ch[N];
  long room[N] = {}, latency[N], rate_out[N] = {};
  for (int c = 0; c < N; c++) latency[c] = -1;

  auto cycle = [&](long t, int phase) {
    // inputs for this cycle, then the outputs they give, then the clock edge
    uint32_t valid = 0, ready = 0;
    uint64_t data = 0;
    for (int c = 0; c < N; c++) {
      bool offer = phase == 1 || phase == 2 || (phase == 3 && (ch[c].offering || rnd() % 100 < 60));
      ch[c].offering = offer;
      if (offer) valid |= 1u << c;
      if (phase == 2 || phase == 4 || (phase == 3 && rnd() % 100 < 55)) ready |= 1u << c;
      data |= (uint64_t)beat_value((uint32_t)ch[c].sent) << (BITS * c);
    }
    dut.in_valid = valid;
    dut.in_data = data;
    dut.out_ready = ready;
    dut.clk = 0;
    dut.eval();
    for (int c = 0; c < N; c++) {
      if ((dut.out_valid >> c & 1) && (ready >> c & 1)) {
        uint32_t got = (uint32_t)(dut.out_data >> (BITS * c)) & ((1u << BITS) - 1);
        if (got != beat_value((uint32_t)ch[c].received) && ch[c].mismatches++ == 0) ch[c].first = ch[c].received;
        ch[c].received++;
        if (phase == 2 && t >= rate / 2) rate_out[c]++;
      }
      if (phase == 1 && (dut.out_valid >> c & 1) && latency[c] < 0) latency[c] = t;
      if ((valid >> c & 1) && (dut.in_ready >> c & 1)) {
        ch[c].sent++;
        ch[c].offering = false;
        if (phase == 1) room[c]++;
      }
    }
    dut.clk = 1;
    dut.eval();
  };

  dut.rst = 1;
  for (int t = 0; t < 3; t++) cycle(t, 0);
  dut.rst = 0;
  for (long t = 0; t < stall; t++) cycle(t, 1);
  for (long t = 0; t < rate; t++) cycle(t, 2);
  for (long t = 0; t < random; t++) cycle(t, 3);
  for (long t = 0; t < stall + 64; t++) cycle(t, 4);
  for (int c = 0; c < N; c++)
    std::printf("ch %d room %ld latency %ld rate %ld sent %llu received %llu mismatches %llu first %lld\n", c, room[c],
                latency[c], rate_out[c], (unsigned long long)ch[c].sent, (unsigned long long)ch[c].received,
                (unsigned long long)ch[c].mismatches, (long long)ch[c].first);
  return 0;
}
