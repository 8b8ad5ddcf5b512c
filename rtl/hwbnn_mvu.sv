// hwbnn_mvu: the matrix-vector unit of one dense layer, folded by PE and SIMD.
//
// An input frame is MW codes in SF = MW / SIMD beats of SIMD codes (code i of beat s is input
// s * SIMD + i); an output frame is MH values in NF = MH / PE beats of PE values (value p of
// beat n is output channel n * PE + p).  One (nf, sf) step per cycle: a frame takes NF * SF
// cycles (FINN's MVAU schedule).  The input vector is kept in ibuf during the first neuron
// fold and re-read for the others.
//
//   XNOR = 1: p[j] = popcount(xnor(x, W[:, j])); with L thresholds y[j] = sum_k [p[j] >= T[j][k]],
//             without (L = 0) y[j] = 2 p[j] - MW (the bipolar accumulator).
//   XNOR = 0: a[j] = sum_i x[i] * W[i][j] (x unsigned codes, W signed); y[j] = sum_k [a[j] >= T[j][k]]
//             or a[j].
//
// W_FILE ($readmemh): NF * SF words, word nf * SF + sf holds lane p, element i at bits
// [(p * SIMD + i) * W_BITS +: W_BITS] (two's complement; XNOR: the weight bit).  T_FILE: MH words,
// threshold k of channel j at bits [k * T_BITS +: T_BITS] (two's complement, ascending).
module hwbnn_mvu #(
    parameter int MW = 8,
    parameter int MH = 4,
    parameter int PE = 1,
    parameter int SIMD = 1,
    parameter int IN_BITS = 1,
    parameter int W_BITS = 1,
    parameter bit XNOR = 1,
    parameter int ACC_BITS = 16,  // signed; holds every partial sum and every threshold
    parameter int L = 1,
    parameter int T_BITS = 16,
    parameter int OUT_BITS = 1,
    parameter W_FILE = "",
    parameter T_FILE = "",
    parameter RAM_STYLE = "auto"
) (
    input  logic                     clk,
    input  logic                     rst,
    input  logic                     in_valid,
    output logic                     in_ready,
    input  logic [SIMD*IN_BITS-1:0]  in_data,
    output logic                     out_valid,
    input  logic                     out_ready,
    output logic [PE*OUT_BITS-1:0]   out_data
);
  localparam int SF = MW / SIMD;
  localparam int NF = MH / PE;
  localparam int LT = (L > 0) ? L : 1;
  localparam int SFW = (SF > 1) ? $clog2(SF) : 1;
  localparam int NFW = (NF > 1) ? $clog2(NF) : 1;
  localparam int PRODW = IN_BITS + 1 + W_BITS;

  logic [PE*SIMD*W_BITS-1:0] wrom[NF*SF];
  logic [LT*T_BITS-1:0] trom[MH];
  initial begin
    $readmemh(W_FILE, wrom);
    if (L > 0) $readmemh(T_FILE, trom);
  end

  logic [SIMD*IN_BITS-1:0] ibuf[SF];
  logic [SFW-1:0] sf;
  logic [NFW-1:0] nf;
  logic signed [ACC_BITS-1:0] acc[PE];

  wire last_sf = (32'(sf) == SF - 1);
  wire need_in = (nf == '0);
  wire block = out_valid && !out_ready && last_sf;  // the result of this step has nowhere to go
  wire step = !block && (!need_in || in_valid);
  assign in_ready = !block && need_in;

  wire [SIMD*IN_BITS-1:0] x = need_in ? in_data : ibuf[sf];
  wire [31:0] waddr = 32'(nf) * SF + 32'(sf);  // this step's weight word

  // this step's dot product of lane p, and the running sum it completes (evaluated in the
  // clocked block, only when the unit steps: the same logic, and far cheaper to simulate)
  function automatic logic signed [ACC_BITS-1:0] lane_sum(input int p, input logic [SIMD*IN_BITS-1:0] xv);
    logic signed [ACC_BITS-1:0] part;
    logic [SIMD*W_BITS-1:0] wv;
    wv = wrom[waddr][p*SIMD*W_BITS+:SIMD*W_BITS];  // lane p's weights
    part = '0;
    if (XNOR) begin
      // the popcount of the lane's XNOR word (IN_BITS = W_BITS = 1: lane p's weights are contiguous)
      part = ACC_BITS'($countones(~(xv[SIMD-1:0] ^ wv)));
    end else begin
      for (int i = 0; i < SIMD; i++) begin
        logic signed [PRODW-1:0] prod;
        prod = $signed({1'b0, xv[i*IN_BITS+:IN_BITS]}) * $signed(wv[i*W_BITS+:W_BITS]);
        part = part + ACC_BITS'(prod);
      end
    end
    return part;
  endfunction

  // the output value of lane p from its finished sum
  function automatic logic [OUT_BITS-1:0] result(input logic signed [ACC_BITS-1:0] a, input int ch);
    logic [OUT_BITS-1:0] code;
    if (L == 0) begin
      if (XNOR) return OUT_BITS'(2 * a - ACC_BITS'(MW));
      return OUT_BITS'(a);
    end
    code = '0;
    for (int k = 0; k < LT; k++) begin
      if (a >= $signed(ACC_BITS'($signed(trom[ch][k*T_BITS+:T_BITS])))) code = code + 1'b1;
    end
    return code;
  endfunction

  always_ff @(posedge clk) begin
    if (rst) begin
      sf <= '0;
      nf <= '0;
      out_valid <= 1'b0;
    end else begin
      logic signed [ACC_BITS-1:0] total[PE];  // this step's sums
      if (out_valid && out_ready) out_valid <= 1'b0;
      if (step) begin
        if (need_in) ibuf[sf] <= in_data;
        for (int p = 0; p < PE; p++) begin
          total[p] = lane_sum(p, x) + ((sf == '0) ? ACC_BITS'(0) : acc[p]);
          acc[p] <= total[p];
        end
        if (last_sf) begin
          sf <= '0;
          nf <= (32'(nf) == NF - 1) ? '0 : nf + 1'b1;
          out_valid <= 1'b1;
          for (int p = 0; p < PE; p++) out_data[p*OUT_BITS+:OUT_BITS] <= result(total[p], 32'(nf) * PE + p);
        end else begin
          sf <= sf + 1'b1;
        end
      end
    end
  end
endmodule
