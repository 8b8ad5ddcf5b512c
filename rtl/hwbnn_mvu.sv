// hwbnn_mvu: the matrix-vector unit of one dense layer, folded by PE and SIMD, pipelined.
//
// An input frame is MW codes in SF = MW / SIMD beats of SIMD codes (code i of beat s is input
// s * SIMD + i); an output frame is MH values in NF = MH / PE beats of PE values (value p of
// beat n is output channel n * PE + p).  One (nf, sf) step is issued per cycle: a frame takes
// NF * SF cycles (FINN's MVAU schedule).  The input vector is kept in ibuf during the first
// neuron fold and re-read for the others.
//
//   XNOR = 1: p[j] = popcount(xnor(x, W[:, j])); with L thresholds y[j] = sum_k [p[j] >= T[j][k]],
//             without (L = 0) y[j] = 2 p[j] - MW (the bipolar accumulator).
//   XNOR = 0: a[j] = sum_i x[i] * W[i][j] (x unsigned codes, W signed); y[j] = sum_k [a[j] >= T[j][k]]
//             or a[j].
//
// Pipeline, one register stage each: the weight ROM read, W_LAT = 2 stages (a synchronous read,
// so it maps to block RAM, and an output register), or 3 where the weights are W_BANKS banks of
// W_BANK_WORDS words (hwbnn_rom: a block RAM's clock-to-out and the multiplexer over the blocks of
// a deep memory each get a cycle, not the popcount's); the sums of GROUP terms of each lane (a
// popcount of 16 XNOR bits, or two products); an adder tree of FANIN terms per stage (TL stages);
// the accumulator; the thresholds (their ROM read in two stages, addressed a stage ahead, so its
// clock-to-out is not on the comparisons' path).  No stage stalls:
// a result is issued only while the output FIFO (OUT_DEPTH beats) has room for every result in
// flight, so back-pressure stops the issue, never the pipeline, and the wide sums never sit on a
// path with the handshake.
//
// W_FILE ($readmemh): NF * SF words, word nf * SF + sf holds lane p, element i at bits
// [(p * SIMD + i) * W_BITS +: W_BITS] (two's complement; XNOR: the weight bit).  T_FILE: NF words,
// word nf holds lane p's thresholds at [p * L * T_BITS +: L * T_BITS], threshold k of them at
// [k * T_BITS +: T_BITS] (two's complement, ascending).  W_BANKS > 1: the words in banks of W_BANK_WORDS,
// bank b in "b<bbb>_<W_FILE>" (hwbnn_rom).  RAM_STYLE: "block", "distributed" or
// "auto" (the synthesis tool's choice) for the weights.
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
    parameter RAM_STYLE = "auto",
    parameter int W_BANKS = 1,
    parameter int W_BANK_WORDS = MW / SIMD * (MH / PE)
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
  localparam int DSP_MIN_BITS = 4;  // narrower products stay in LUTs (the cost model's rule)
  localparam int GROUP = XNOR ? 16 : 2;  // terms of a first-stage sum
  localparam int NG = (SIMD + GROUP - 1) / GROUP;  // first-stage sums per lane
  localparam int FANIN = 4;  // terms per adder-tree stage

  // stages of the adder tree that reduces n sums to one
  function automatic int tree_levels(input int n);
    int levels, left;
    levels = 0;
    left = n;
    while (left > 1) begin
      left = (left + FANIN - 1) / FANIN;
      levels = levels + 1;
    end
    tree_levels = levels;
  endfunction

  localparam int TL = tree_levels(NG);
  localparam int W_LAT = (W_BANKS > 1) ? 3 : 2;  // cycles from the issue to the step's weights
  localparam int ACC_STAGE = TL + W_LAT + 1;  // the stage whose sums the accumulator takes
  localparam int OUT_DEPTH = TL + W_LAT + 5;  // every result in flight, and one more
  localparam int PW = $clog2(OUT_DEPTH + 1);

  // ---- issue: one (nf, sf) step per cycle while the output has room
  logic [SIMD*IN_BITS-1:0] ibuf[SF];
  logic [SFW-1:0] sf;
  logic [NFW-1:0] nf;
  logic [PW-1:0] pending;  // results issued and not yet given out

  wire last_sf = (32'(sf) == SF - 1);
  wire need_in = (nf == '0);
  wire room = (32'(pending) < OUT_DEPTH);
  wire issue = room && (!need_in || in_valid);
  assign in_ready = room && need_in;
  wire [SIMD*IN_BITS-1:0] x = need_in ? in_data : ibuf[sf];
  logic [31:0] waddr;  // the step's weight word nf * SF + sf, counted (no multiplier on the path)

  // the stages' valid flags and step tags (index k: the stage k registers after the issue)
  logic valid[ACC_STAGE+1];
  logic first[ACC_STAGE+1], last[ACC_STAGE+1];
  logic [NFW-1:0] fold[ACC_STAGE+1];

  // stages 1 .. W_LAT: the step's input (xs[k]: k cycles after the issue) and weights (wl)
  logic [SIMD*IN_BITS-1:0] xs[W_LAT+1];
  logic [PE*SIMD*W_BITS-1:0] wl;
  hwbnn_rom #(
      .WORDS(NF * SF),
      .BITS (PE * SIMD * W_BITS),
      .FILE (W_FILE),
      .STYLE(RAM_STYLE),
      .PIPELINED(1),
      .BANKS(W_BANKS),
      .BANK_WORDS(W_BANK_WORDS)
  ) weights (
      .clk (clk),
      .en  (1'b1),  // waddr holds between issues: the read W_LAT after an issue is its step's, and
      .addr(waddr),  // `issue`, which follows the input's valid, drives no block RAM across the chip
      .data(wl)
  );

  // stages W_LAT + 1 .. ACC_STAGE: first-stage sums (level 0), then the tree's levels
  logic signed [ACC_BITS-1:0] node[TL+1][PE][NG];

  // the sum of the ``g``-th GROUP products x * w of lane p (an integer unit's; unsigned input
  // codes, signed weights).  Narrow products as shifted adds,
  // x * w = sum_{b < W-1} w_b x 2^b - w_{W-1} x 2^{W-1}, so that synthesis keeps them in LUTs: a
  // DSP block for a 2-bit product wastes it, and the route to it limits the clock.
  function automatic logic signed [ACC_BITS-1:0] product_sum(input int p, input int g);
    logic signed [ACC_BITS-1:0] s;
    logic signed [PRODW-1:0] prod;
    logic [IN_BITS-1:0] x;
    logic [W_BITS-1:0] w;
    s = '0;
    for (int i = 0; i < GROUP; i++) begin
      if (g * GROUP + i < SIMD) begin
        x = xs[W_LAT][(g*GROUP+i)*IN_BITS+:IN_BITS];
        w = wl[(p*SIMD+g*GROUP+i)*W_BITS+:W_BITS];
        if (IN_BITS >= DSP_MIN_BITS && W_BITS >= DSP_MIN_BITS) prod = $signed({1'b0, x}) * $signed(w);
        else begin
          prod = '0;
          for (int b = 0; b < W_BITS; b++)
            if (w[b]) prod = (b == W_BITS - 1) ? prod - (PRODW'(x) << b) : prod + (PRODW'(x) << b);
        end
        s = s + ACC_BITS'(prod);
      end
    end
    product_sum = s;
  endfunction

  always_ff @(posedge clk) begin
    if (rst) begin
      sf <= '0;
      nf <= '0;
      waddr <= '0;
      for (int k = 1; k <= ACC_STAGE; k++) valid[k] <= 1'b0;
    end else begin
      if (issue) begin
        if (need_in) ibuf[sf] <= in_data;
        sf <= last_sf ? '0 : sf + 1'b1;
        waddr <= (waddr == 32'(NF * SF - 1)) ? '0 : waddr + 1;
        if (last_sf) nf <= (32'(nf) == NF - 1) ? '0 : nf + 1'b1;
      end
      valid[1] <= issue;
      for (int k = 2; k <= ACC_STAGE; k++) valid[k] <= valid[k-1];
    end
    xs[1] <= x;  // taken by the stage only when valid[1] says a step was issued
    for (int k = 2; k <= W_LAT; k++) xs[k] <= xs[k-1];
    first[1] <= (sf == '0);
    last[1] <= last_sf;
    fold[1] <= nf;
    for (int k = 2; k <= ACC_STAGE; k++) begin
      first[k] <= first[k-1];
      last[k] <= last[k-1];
      fold[k] <= fold[k-1];
    end
    if (valid[W_LAT]) begin
      for (int p = 0; p < PE; p++) begin
        if (XNOR) begin  // popcounts of GROUP bits of the lane's XNOR word (IN_BITS = W_BITS = 1)
          logic [NG*GROUP-1:0] agree;
          agree = '0;
          agree[SIMD-1:0] = ~(xs[W_LAT][SIMD-1:0] ^ wl[p*SIMD+:SIMD]);
          for (int g = 0; g < NG; g++) node[0][p][g] <= ACC_BITS'($countones(agree[g*GROUP+:GROUP]));
        end else begin
          for (int g = 0; g < NG; g++) node[0][p][g] <= product_sum(p, g);
        end
      end
    end
    // the adder tree: stage l sums FANIN of level l - 1's ceil(NG / FANIN**(l - 1)) sums
    for (int l = 1; l <= TL; l++) begin
      if (valid[l+W_LAT]) begin
        for (int p = 0; p < PE; p++) begin
          for (int n = 0; n * FANIN ** l < NG; n++) begin
            logic signed [ACC_BITS-1:0] s;
            s = '0;
            for (int j = 0; j < FANIN; j++)
              if ((n * FANIN + j) * FANIN ** (l - 1) < NG) s = s + node[l-1][p][n*FANIN+j];
            node[l][p][n] <= s;
          end
        end
      end
    end
  end

  // ---- the accumulator, then the thresholds, into the output FIFO
  logic signed [ACC_BITS-1:0] acc[PE];
  logic signed [ACC_BITS-1:0] done_sum[PE];  // a finished sum
  logic [PE*LT*T_BITS-1:0] done_thr;  // and its fold's thresholds
  logic done_valid, res_valid;
  logic [PE*OUT_BITS-1:0] res_data;
  if (L > 0) begin : g_thresholds
    hwbnn_rom #(
        .WORDS(NF),
        .BITS (PE * LT * T_BITS),
        .FILE (T_FILE),
        .PIPELINED(1)
    ) thresholds (
        .clk (clk),
        .en  (1'b1),  // read two cycles ahead: the fold one stage before the accumulator, so the
        .addr(32'(fold[ACC_STAGE-1])),  // memory's clock-to-out is not on the comparisons' path
        .data(done_thr)
    );
  end else begin : g_no_thresholds
    assign done_thr = '0;
  end

  // the output value of lane p from its finished sum and its thresholds
  function automatic logic [OUT_BITS-1:0] result(input logic signed [ACC_BITS-1:0] a, input int p);
    logic [OUT_BITS-1:0] code;
    code = '0;
    if (L == 0) begin
      if (XNOR) code = OUT_BITS'(2 * a - ACC_BITS'(MW));
      else code = OUT_BITS'(a);
    end else begin
      for (int k = 0; k < LT; k++) begin
        if (a >= $signed(ACC_BITS'($signed(done_thr[(p*LT+k)*T_BITS+:T_BITS])))) code = code + 1'b1;
      end
    end
    result = code;
  endfunction

  always_ff @(posedge clk) begin
    if (rst) begin
      done_valid <= 1'b0;
      res_valid <= 1'b0;
      pending <= '0;
    end else begin
      done_valid <= valid[ACC_STAGE] && last[ACC_STAGE];
      res_valid <= done_valid;
      pending <= pending + PW'(issue && last_sf) - PW'(out_valid && out_ready);
    end
    if (valid[ACC_STAGE]) begin
      for (int p = 0; p < PE; p++) begin
        logic signed [ACC_BITS-1:0] total;
        total = node[TL][p][0] + (first[ACC_STAGE] ? ACC_BITS'(0) : acc[p]);
        acc[p] <= total;
        done_sum[p] <= total;
      end
    end
    if (done_valid) begin
      for (int p = 0; p < PE; p++) res_data[p*OUT_BITS+:OUT_BITS] <= result(done_sum[p], p);
    end
  end

  logic unused_ready;
  hwbnn_fifo #(
      .DEPTH(OUT_DEPTH),
      .BITS (PE * OUT_BITS)
  ) out_fifo (
      .clk(clk),
      .rst(rst),
      .in_valid(res_valid),
      .in_ready(unused_ready),  // always ready: pending <= OUT_DEPTH
      .in_data(res_data),
      .out_valid(out_valid),
      .out_ready(out_ready),
      .out_data(out_data)
  );
endmodule
