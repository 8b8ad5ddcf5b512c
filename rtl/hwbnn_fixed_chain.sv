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
// Five register stages, so that no clock period holds more than one of the subtraction, the
// multiply, the add, the rounding and the saturation: (1) t and the slope it selects, (2) the
// product t * slope, (3) p, (4) q = round(p / 2**SF), (5) y.  Where t or the slope is wider than
// 18 bits (SPLIT), the product is four partial products of 17-bit limbs, each one 18 x 18
// multiplier into its own register, summed in two stages (ll + hh * 2**34 and lh + hl; then
// their sum), seven stages in all.  (With the multiply and the add in one stage, the
// multiplier's 3.9 ns on an ECP5 MULT18X18D, a route and the add's carry chain made ftbnn-mnist's
// critical path, 13.8 ns; with the product alone, Yosys built the 26 x 21 multiply from four
// MULT18X18Ds and added their outputs in the same clock period, 14.6 ns on ed433b7.)
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
    parameter bit SPLIT = 0,  // the product as 17-bit limb products (the emitter sets it: limb_split)
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

  // SPLIT (hw_bnn.rtl.elementwise.limb_split: t or the slope wider than one 18 x 18 multiplier, a
  // MULT18X18D, and both at most 35 bits): each is cut into 17-bit limbs, x = hi * 2**17 + lo, so
  // that every partial product is one multiplier with a register of its own, and their sum takes
  // two stages more (one add each)
  localparam int STAGES = SPLIT ? 7 : 5;
  initial if (SPLIT && (T_BITS > 35 || S_BITS > 35)) $fatal(1, "SPLIT needs T_BITS and S_BITS of at most 35");

  logic [BW-1:0] beat;
  logic [STAGES-1:0] v;  // v[k]: a value in stage k + 1
  logic en;
  assign en = !v[STAGES-1] || out_ready;
  assign in_ready = en;
  assign out_valid = v[STAGES-1];

  logic signed [T_BITS-1:0] t1[PE];
  logic signed [S_BITS-1:0] s1[PE];
  logic signed [Z_BITS-1:0] z1[PE];
  logic signed [P_BITS-1:0] pq[PE];  // p, into the rounding stage

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

  if (!SPLIT) begin : g_product
    // stage 2: the product t * slope; stage 3: p = t * slope + Z * 2**SF
    logic signed [P_BITS-1:0] m2[PE];
    logic signed [Z_BITS-1:0] z2[PE];
    always_ff @(posedge clk) begin
      if (en) begin
        for (int i = 0; i < PE; i++) begin
          m2[i] <= P_BITS'(t1[i]) * P_BITS'(s1[i]);
          z2[i] <= z1[i];
          pq[i] <= m2[i] + P_BITS'(z2[i]);
        end
      end
    end
  end else begin : g_limbs
    // limbs as 18-bit signed values: lo = x mod 2**17 (>= 0), hi = x div 2**17 (W > 18), else
    // lo = x, hi = 0
    function automatic logic signed [17:0] lo_of(input logic signed [35:0] x, input int w);
      lo_of = (w > 18) ? $signed({1'b0, x[16:0]}) : x[17:0];
    endfunction
    function automatic logic signed [17:0] hi_of(input logic signed [35:0] x, input int w);
      hi_of = (w > 18) ? x[34:17] : '0;
    endfunction
    logic signed [35:0] pll[PE], plh[PE], phl[PE], phh[PE];  // stage 2: t limb x slope limb
    logic signed [P_BITS-1:0] c3[PE], m4[PE];  // stage 3: ll + hh * 2**34; stage 4: + (lh + hl) * 2**17
    logic signed [36:0] d3[PE];  // stage 3: lh + hl
    logic signed [Z_BITS-1:0] z2[PE], z3[PE], z4[PE];
    logic signed [17:0] tl[PE], th[PE], sl[PE], sh[PE];
    always_comb begin
      for (int i = 0; i < PE; i++) begin
        tl[i] = lo_of(36'(t1[i]), T_BITS);
        th[i] = hi_of(36'(t1[i]), T_BITS);
        sl[i] = lo_of(36'(s1[i]), S_BITS);
        sh[i] = hi_of(36'(s1[i]), S_BITS);
      end
    end
    always_ff @(posedge clk) begin
      if (en) begin
        for (int i = 0; i < PE; i++) begin
          pll[i] <= tl[i] * sl[i];
          plh[i] <= tl[i] * sh[i];
          phl[i] <= th[i] * sl[i];
          phh[i] <= th[i] * sh[i];
          c3[i] <= P_BITS'(pll[i]) + (P_BITS'(phh[i]) <<< 34);
          d3[i] <= 37'(plh[i]) + 37'(phl[i]);
          m4[i] <= c3[i] + (P_BITS'(d3[i]) <<< 17);
          pq[i] <= m4[i] + P_BITS'(z4[i]);
          {z2[i], z3[i], z4[i]} <= {z1[i], z2[i], z3[i]};
        end
      end
    end
  end

  // the next to last stage: q = round(p / 2**SF); the last: y = overflow(q)
  function automatic logic signed [QW-1:0] rounded(input logic signed [P_BITS-1:0] p);
    logic signed [QW-1:0] q;
    logic inc;
    q = QW'(p >>> SF);  // floor
    inc = 1'b0;
    if (SF > 0 && ROUND == 1) inc = p[HALF];
    if (SF > 0 && ROUND == 2) inc = p[HALF] && ((p & BELOW) != 0 || q[0]);
    rounded = q + QW'(inc);
  endfunction
  function automatic logic [WIDTH-1:0] overflowed(input logic signed [QW-1:0] q);
    logic signed [QW-1:0] y;
    y = q;
    if (SAT) y = (q > HI) ? HI : ((q < LO) ? LO : q);
    overflowed = y[WIDTH-1:0];
  endfunction

  logic signed [QW-1:0] qr[PE];
  always_ff @(posedge clk) begin
    if (en) begin
      for (int i = 0; i < PE; i++) begin
        qr[i] <= rounded(pq[i]);
        out_data[i*WIDTH+:WIDTH] <= overflowed(qr[i]);
      end
    end
  end

  always_ff @(posedge clk) begin
    if (rst) begin
      beat <= '0;
      v <= '0;
    end else if (en) begin
      v <= STAGES'({v, in_valid});
      if (in_valid) beat <= (32'(beat) == NB - 1) ? '0 : beat + 1'b1;
    end
  end
endmodule
