// hwbnn_axis_harness: drives the AXI4-Stream wrapper (hwbnn_axis, Verilator top
// hwbnn_axis_bd) as an AXI DMA would: raw TDATA words in, raw TDATA words and TLAST flags out.
//
//   Vhwbnn_axis_bd IN OUT TLAST BATCH_WORDS WORDS_OUT SEED P_STALL P_GAP MAX_CYCLES
//
// IN: the input words, S_BYTES bytes each, little-endian (byte 0 at TDATA[7:0]), the memory
// image of an MM2S buffer.  s_axis_tlast is set on every BATCH_WORDS-th word and on the last
// (one MM2S transfer per batch).  OUT: every m_axis word taken, M_BYTES bytes each; TLAST: the
// indices of the words that carried m_axis_tlast, one a line.  With P_GAP no input word is
// offered in a cycle (a word once offered stays, as AXI-Stream requires), with P_STALL
// m_axis_tready is low (seeded by SEED).  The run stops at WORDS_OUT words (then 64 more cycles
// catch any extra word) or MAX_CYCLES.  The wrapper's own AXI-Stream rule is checked: a word
// offered and not taken must stay, unchanged, until taken.  stdout: "cycles N".
// S_BYTES and M_BYTES (1, 2, 4 or 8: Verilator's scalar ports) are in hwbnn_axis_config.h.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

#include "Vhwbnn_axis_bd.h"
#include "hwbnn_axis_config.h"
#include "verilated.h"

namespace {

template <typename T>
void set_word(T& port, const uint8_t* bytes, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v |= (uint64_t)bytes[i] << (8 * i);
  port = (T)v;
}

template <typename T>
void get_word(const T& port, uint8_t* bytes, int n) {
  uint64_t v = (uint64_t)port;
  for (int i = 0; i < n; i++) bytes[i] = (uint8_t)(v >> (8 * i));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 10) {
    std::fprintf(stderr, "usage: %s IN OUT TLAST BATCH_WORDS WORDS_OUT SEED P_STALL P_GAP MAX_CYCLES\n", argv[0]);
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::vector<uint8_t> words_in((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (words_in.size() % S_BYTES) {
    std::fprintf(stderr, "%s: %zu bytes, not a whole number of %d-byte words\n", argv[1], words_in.size(), S_BYTES);
    return 2;
  }
  const long n_in = (long)(words_in.size() / S_BYTES);
  const long batch = std::atol(argv[4]), words_out = std::atol(argv[5]);
  std::mt19937_64 rng(std::strtoull(argv[6], nullptr, 10));
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  const double p_stall = std::atof(argv[7]), p_gap = std::atof(argv[8]);
  const long max_cycles = std::atol(argv[9]);

  Verilated::commandArgs(argc, argv);
  Vhwbnn_axis_bd top;
  std::vector<uint8_t> out;
  std::vector<long> tlast;
  top.ap_rst_n = 0;
  top.s_axis_tvalid = 0;
  top.m_axis_tready = 0;
  for (int i = 0; i < 4; i++) {
    top.ap_clk = 0;
    top.eval();
    top.ap_clk = 1;
    top.eval();
  }
  top.ap_rst_n = 1;
  long next = 0, cycle = 0, taken = 0, drain = 64;
  bool held = false;  // the wrapper offered a word last cycle that was not taken
  uint64_t held_data = 0;
  int held_last = 0;
  while (cycle < max_cycles && drain > 0) {
    top.ap_clk = 0;
    if (!top.s_axis_tvalid) top.s_axis_tvalid = next < n_in && !(p_gap > 0 && uni(rng) < p_gap);
    if (top.s_axis_tvalid) {
      set_word(top.s_axis_tdata, &words_in[(size_t)next * S_BYTES], S_BYTES);
      top.s_axis_tlast = ((next + 1) % batch == 0) || next == n_in - 1;
    }
    top.m_axis_tready = !(p_stall > 0 && uni(rng) < p_stall);
    top.eval();
    if (held && (!top.m_axis_tvalid || (uint64_t)top.m_axis_tdata != held_data || top.m_axis_tlast != held_last)) {
      std::fprintf(stderr, "cycle %ld: m_axis dropped or changed a word it offered and that was not taken\n", cycle);
      return 4;
    }
    const bool in_fire = top.s_axis_tvalid && top.s_axis_tready;
    const bool out_fire = top.m_axis_tvalid && top.m_axis_tready;
    held = top.m_axis_tvalid && !top.m_axis_tready;
    held_data = (uint64_t)top.m_axis_tdata;
    held_last = top.m_axis_tlast;
    if (out_fire) {
      uint8_t b[8];
      get_word(top.m_axis_tdata, b, M_BYTES);
      out.insert(out.end(), b, b + M_BYTES);
      if (top.m_axis_tlast) tlast.push_back(taken);
      taken++;
    }
    top.ap_clk = 1;
    top.eval();
    if (in_fire) {
      next++;
      top.s_axis_tvalid = 0;
    }
    if (taken >= words_out) drain--;
    cycle++;
  }
  top.final();
  std::ofstream(argv[2], std::ios::binary).write((const char*)out.data(), (std::streamsize)out.size());
  std::ofstream t(argv[3]);
  for (long i : tlast) t << i << '\n';
  std::printf("cycles %ld\n", cycle);
  if (taken < words_out) {
    std::fprintf(stderr, "stopped after %ld cycles with %ld of %ld output words (%ld of %ld input words taken)\n",
                 cycle, taken, words_out, next, n_in);
    return 3;
  }
  return 0;
}
