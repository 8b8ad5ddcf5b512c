// hwbnn_threshold: elementwise multi-threshold, the input quantizer.
//
// A frame is C integers in C / PE beats of PE values; value i of beat b belongs to channel
// (b * PE + i) % CH (CH = C for a vector, the channels of an NHWC image);
// y = sum_k [v >= T[ch][k]] (T[0] for every channel when SHARED), v = x, or v = -x on the
// channels flagged negated (NEG = 1: a decreasing chain before them).  T_FILE ($readmemh): CH words
// (1 when SHARED), threshold k at bits [k * T_BITS +: T_BITS] (two's complement), and with NEG the
// channel's negate flag above them.
// One register stage; a beat per cycle.
module hwbnn_threshold #(
    parameter int C = 4,
    parameter int CH = 4,
    parameter int PE = 1,
    parameter int IN_BITS = 8,
    parameter bit IN_SIGNED = 0,
    parameter int L = 1,
    parameter int T_BITS = 10,  // signed; holds every threshold and every input
    parameter int OUT_BITS = 1,
    parameter bit SHARED = 0,
    parameter bit NEG = 0,
    parameter T_FILE = ""
) (
    input  logic                    clk,
    input  logic                    rst,
    input  logic                    in_valid,
    output logic                    in_ready,
    input  logic [PE*IN_BITS-1:0]   in_data,
    output logic                    out_valid,
    input  logic                    out_ready,
    output logic [PE*OUT_BITS-1:0]  out_data
);
  localparam int NB = C / PE;
  localparam int BW = (NB > 1) ? $clog2(NB) : 1;
  localparam int ROWS = SHARED ? 1 : CH;

  localparam int WORD = L * T_BITS + (NEG ? 1 : 0);

  logic [WORD-1:0] trom[ROWS];
  initial $readmemh(T_FILE, trom);

  logic [BW-1:0] beat;
  assign in_ready = !out_valid || out_ready;

  function automatic logic [OUT_BITS-1:0] code(input logic [IN_BITS-1:0] raw, input int ch);
    logic signed [T_BITS-1:0] v;
    logic [OUT_BITS-1:0] n;
    logic [WORD-1:0] w;
    w = trom[SHARED ? 0 : ch];
    v = IN_SIGNED ? T_BITS'($signed(raw)) : T_BITS'({1'b0, raw});
    if (NEG && w[WORD-1]) v = -v;
    n = '0;
    for (int k = 0; k < L; k++) begin
      if (v >= $signed(w[k*T_BITS+:T_BITS])) n = n + 1'b1;
    end
    code = n;
  endfunction

  always_ff @(posedge clk) begin
    if (rst) begin
      beat <= '0;
      out_valid <= 1'b0;
    end else begin
      if (out_valid && out_ready) out_valid <= 1'b0;
      if (in_valid && in_ready) begin
        for (int i = 0; i < PE; i++) out_data[i*OUT_BITS+:OUT_BITS] <= code(in_data[i*IN_BITS+:IN_BITS], (32'(beat) * PE + i) % CH);
        beat <= (32'(beat) == NB - 1) ? '0 : beat + 1'b1;
        out_valid <= 1'b1;
      end
    end
  end
endmodule
