// hwbnn_fixed_chain: the per-channel piecewise linear function of a fixed-point shortcut
// (BatchNorm, RPReLU, FPReLU, PReLU), exactly as ap_fixed computes it (hw_bnn.ir.FixedChainLayer):
//
//   t = x * 2**SHIFT - G[c]                       SHIFT = frac - in_frac
//   p = t * (t >= 0 ? P[c] : N[c]) + Z[c] * 2**SF
//   y = overflow(round(p / 2**SF))                 WIDTH bits, signed
//
// round: ROUND = 0 floor (AP_TRN), 1 half up (AP_RND), 2 half to even (AP_RND_CONV); overflow:
// SAT = 1 clip (AP_SAT), 0 wrap (AP_WRAP).  t and p are computed modulo 2**T_BITS and 2**P_BITS,
// which hold their exact ranges, so the results are exact.
//
// A frame is C values in C / PE beats of PE; value i of beat b belongs to channel (b * PE + i) % CH.
// PARAM_FILE ($readmemh): CH words {Z * 2**SF, N, P, G} (G in the low G_BITS bits, then P and N in
// S_BITS each, then Z * 2**SF in Z_BITS; two's complement).
//
// Four register stages, so that no clock period holds more than one of the subtraction, the
// multiply, the add and the rounding with saturation: (1) t and the slope it selects, (2) the
// product t * slope, (3) p, (4) y.  (With the multiply and the add in one stage, the multiplier's
// 3.9 ns on an ECP5 MULT18X18D, a route and the add's carry chain made ftbnn-mnist's critical
// path, 13.8 ns.)
// The stages advance together (en) whenever the last one is empty or being read.
module hwbnn_fixed_chain #(
    parameter int C = 4,
    parameter int CH = 4,
    parameter int PE = 1,
    parameter int IN_BITS = 8,
    parameter bit IN_SIGNED = 1,
    parameter int SHIFT = 0,
    parameter int SF = 0,
    parameter int WIDTH = 8,
    parameter int ROUND = 2,
    parameter bit SAT = 1,
    parameter int G_BITS = 8,
    parameter int S_BITS = 8,
    parameter int Z_BITS = 8,
    parameter int T_BITS = 16,
    parameter int P_BITS = 24,
    parameter PARAM_FILE = ""
) (
    input  logic                  clk,
    input  logic                  rst,
    input  logic                  in_valid,
    output logic                  in_ready,
    input  logic [PE*IN_BITS-1:0] in_data,
    output logic                  out_valid,
    input  logic                  out_ready,
    output logic [PE*WIDTH-1:0]   out_data
);
  localparam int NB = C / PE;
  localparam int BW = (NB > 1) ? $clog2(NB) : 1;
  localparam int WORD = G_BITS + 2 * S_BITS + Z_BITS;
  // the rounded value (p / 2**SF rounded up needs one more bit at most) and the output's bounds
  localparam int QW = ((P_BITS > WIDTH) ? P_BITS : WIDTH) + 1;
  localparam logic signed [QW-1:0] HI = QW'((64'sd1 <<< (WIDTH - 1)) - 1);
  localparam logic signed [QW-1:0] LO = -HI - 1;
  localparam int HALF = (SF > 0) ? SF - 1 : 0;  // the bit worth one half after the shift
  localparam logic [P_BITS-1:0] BELOW = (P_BITS'(1) << HALF) - 1;  // the bits below it

  logic [WORD-1:0] prom[CH];
  initial $readmemh(PARAM_FILE, prom);

  logic [BW-1:0] beat;
  logic [3:0] v;  // a value in stage 1, 2, 3, 4
  logic en;
  assign en = !v[3] || out_ready;
  assign in_ready = en;
  assign out_valid = v[3];

  logic signed [T_BITS-1:0] t1[PE];
  logic signed [S_BITS-1:0] s1[PE];
  logic signed [Z_BITS-1:0] z1[PE];
  logic signed [P_BITS-1:0] m2[PE], p3[PE];
  logic signed [Z_BITS-1:0] z2[PE];

  // stage 1: t = x * 2**SHIFT - G[c], and the slope on t's side of the breakpoint
  function automatic logic signed [T_BITS-1:0] t_of(input logic [IN_BITS-1:0] raw, input logic [WORD-1:0] w);
    logic signed [T_BITS-1:0] x;
    x = IN_SIGNED ? T_BITS'($signed(raw)) : T_BITS'({1'b0, raw});
    t_of = (x <<< SHIFT) - T_BITS'($signed(w[0+:G_BITS]));
  endfunction
  function automatic logic signed [S_BITS-1:0] slope_of(input logic signed [T_BITS-1:0] t, input logic [WORD-1:0] w);
    slope_of = (t >= 0) ? w[G_BITS+:S_BITS] : w[G_BITS+S_BITS+:S_BITS];
  endfunction
  logic [WORD-1:0] w0[PE];  // the parameters of value i's channel
  logic signed [T_BITS-1:0] t0[PE];
  always_comb begin
    for (int i = 0; i < PE; i++) begin
      w0[i] = prom[(32'(beat) * PE + i) % CH];
      t0[i] = t_of(in_data[i*IN_BITS+:IN_BITS], w0[i]);
    end
  end
  always_ff @(posedge clk) begin
    if (en) begin
      for (int i = 0; i < PE; i++) begin
        t1[i] <= t0[i];
        s1[i] <= slope_of(t0[i], w0[i]);
        z1[i] <= $signed(w0[i][G_BITS+2*S_BITS+:Z_BITS]);
      end
    end
  end

  // stage 2: the product t * slope; stage 3: p = t * slope + Z * 2**SF
  always_ff @(posedge clk) begin
    if (en) begin
      for (int i = 0; i < PE; i++) begin
        m2[i] <= P_BITS'(t1[i]) * P_BITS'(s1[i]);
        z2[i] <= z1[i];
        p3[i] <= m2[i] + P_BITS'(z2[i]);
      end
    end
  end

  // stage 4: y = overflow(round(p / 2**SF))
  function automatic logic [WIDTH-1:0] round_overflow(input logic signed [P_BITS-1:0] p);
    logic signed [QW-1:0] q;
    logic inc;
    q = QW'(p >>> SF);  // floor
    inc = 1'b0;
    if (SF > 0 && ROUND == 1) inc = p[HALF];
    if (SF > 0 && ROUND == 2) inc = p[HALF] && ((p & BELOW) != 0 || q[0]);
    q = q + QW'(inc);
    if (SAT) q = (q > HI) ? HI : ((q < LO) ? LO : q);
    round_overflow = q[WIDTH-1:0];
  endfunction

  always_ff @(posedge clk) begin
    if (en) for (int i = 0; i < PE; i++) out_data[i*WIDTH+:WIDTH] <= round_overflow(p3[i]);
  end

  always_ff @(posedge clk) begin
    if (rst) begin
      beat <= '0;
      v <= '0;
    end else if (en) begin
      v <= {v[2:0], in_valid};
      if (in_valid) beat <= (32'(beat) == NB - 1) ? '0 : beat + 1'b1;
    end
  end
endmodule
