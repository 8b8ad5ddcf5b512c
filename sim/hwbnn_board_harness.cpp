// hwbnn_board_harness: the host at the other end of hwbnn_board's UART (Verilator).  It sends a
// byte file serially into uart_rx, decodes uart_tx into a byte file, and counts cycles.
//
//   Vhwbnn_board IN_BYTES OUT_BYTES CYCLES CLKS_PER_BIT FRAME_IN FRAME_OUT WINDOW MAX_CYCLES
//
// IN_BYTES: the bytes to send, FRAME_IN per frame; OUT_BYTES: the bytes received, FRAME_OUT per
// frame expected.  Line: 8N1, LSB first, CLKS_PER_BIT cycles a bit (as the board was built with);
// bytes back to back, but the bytes of frame f start only once the outputs of frame f - WINDOW
// are all received (at most WINDOW frames outstanding).  The board's received line is sampled
// mid-bit, as the board samples uart_rx.  CYCLES: per frame, the cycle its first byte's start bit
// goes out and the cycle its last output byte's stop bit is sampled.
//
// Exit 0 once every expected byte is received and no more follow within two byte times; 3 when
// MAX_CYCLES pass first; 4 when the board drops a byte (led[7]), a received stop bit is 0, or the
// board sends more than expected.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>

#include "Vhwbnn_board.h"
#include "verilated.h"

namespace {

// The host's transmitter: one byte at a time on the line, phase counts its cycles (-1: idle).
struct LineOut {
  long cpb;
  long phase = -1;
  int byte = 0;
  bool busy() const { return phase >= 0; }
  void start(int b) { byte = b, phase = 0; }
  int level() const {
    if (phase < 0) return 1;
    long bit = phase / cpb;  // 0 start, 1..8 data, 9 stop
    return bit == 0 ? 0 : bit == 9 ? 1 : (byte >> (bit - 1)) & 1;
  }
  void tick() {
    if (phase >= 0 && ++phase == 10 * cpb) phase = -1;
  }
};

// The host's receiver: a falling edge starts a byte; the start, data and stop bits are sampled
// cpb / 2 + k * cpb cycles after it.  tick: a byte (0..255), -1 none yet, -2 a stop bit of 0.
struct LineIn {
  long cpb;
  long phase = -1;
  int bits = 0;
  bool busy() const { return phase >= 0; }
  int tick(int level) {
    if (phase < 0) {
      if (!level) phase = 0;
      return -1;
    }
    long t = ++phase - cpb / 2;
    if (t < 0 || t % cpb) return -1;
    long k = t / cpb;
    if (k == 0) {
      if (level) phase = -1;  // a glitch, not a start bit
    } else if (k <= 8) {
      bits |= level << (k - 1);
    } else {
      int b = bits;
      bits = 0, phase = -1;
      return level ? b : -2;
    }
    return -1;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 9) {
    std::fprintf(stderr, "usage: %s IN_BYTES OUT_BYTES CYCLES CLKS_PER_BIT FRAME_IN FRAME_OUT WINDOW MAX_CYCLES\n",
                 argv[0]);
    return 2;
  }
  std::ifstream in_file(argv[1], std::ios::binary);
  std::vector<unsigned char> in((std::istreambuf_iterator<char>(in_file)), std::istreambuf_iterator<char>());
  const long cpb = std::atol(argv[4]), frame_in = std::atol(argv[5]), frame_out = std::atol(argv[6]);
  const long window = std::atol(argv[7]), max_cycles = std::atol(argv[8]);
  if (!in_file.eof() && !in_file.good()) {
    std::fprintf(stderr, "%s: cannot read\n", argv[1]);
    return 2;
  }
  if (cpb < 1 || frame_in < 1 || frame_out < 1 || window < 1 || (long)in.size() % frame_in) {
    std::fprintf(stderr, "%s: %zu bytes, not whole frames of %ld\n", argv[1], in.size(), frame_in);
    return 2;
  }
  const long frames = (long)in.size() / frame_in, expected = frames * frame_out;

  Verilated::commandArgs(argc, argv);
  Vhwbnn_board board;
  LineOut host_tx{cpb};
  LineIn host_rx{cpb};
  std::vector<unsigned char> out;
  std::vector<long> first_in(frames, -1), last_out(frames, -1);
  auto step = [&board]() {
    board.clk = 0;
    board.eval();
    board.clk = 1;
    board.eval();
  };
  board.uart_rx = 1;
  board.rst = 1;
  for (int i = 0; i < 4; i++) step();
  board.rst = 0;

  long sent = 0, cycle = 0, tail = -1;  // tail: cycles run after the last expected byte
  int code = 0;
  while (code == 0 && cycle < max_cycles && tail < 20 * cpb) {
    if (!host_tx.busy() && sent < (long)in.size() && sent / frame_in < (long)out.size() / frame_out + window) {
      if (sent % frame_in == 0) first_in[sent / frame_in] = cycle;
      host_tx.start(in[sent++]);
    }
    board.uart_rx = host_tx.level();
    step();
    host_tx.tick();
    int got = host_rx.tick(board.uart_tx);
    if (got == -2) {
      std::fprintf(stderr, "cycle %ld: output byte %zu has a stop bit of 0\n", cycle, out.size());
      code = 4;
    } else if (got >= 0 && (long)out.size() == expected) {
      std::fprintf(stderr, "cycle %ld: the board sent more than the %ld bytes expected\n", cycle, expected);
      code = 4;
    } else if (got >= 0) {
      out.push_back((unsigned char)got);
      if ((long)out.size() % frame_out == 0) last_out[out.size() / frame_out - 1] = cycle;
    }
    if ((board.led >> 7) & 1) {
      std::fprintf(stderr, "cycle %ld: the board lost a received byte (led[7]) after %ld bytes sent\n", cycle, sent);
      code = 4;
    }
    if ((long)out.size() == expected && !host_rx.busy()) tail++;
    cycle++;
  }
  board.final();
  std::ofstream(argv[2], std::ios::binary).write((const char*)out.data(), (std::streamsize)out.size());
  std::ofstream cyc(argv[3]);
  for (long f = 0; f < frames; f++) cyc << first_in[f] << ' ' << last_out[f] << '\n';
  if (code == 0 && (long)out.size() < expected) {
    std::fprintf(stderr, "stopped after %ld cycles with %zu of %ld output bytes (%ld of %zu bytes sent)\n", cycle,
                 out.size(), expected, sent, in.size());
    code = 3;
  }
  return code;
}
