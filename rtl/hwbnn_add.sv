// hwbnn_add: the shortcut add of two fixed-point streams (the same fraction bits), E values per
// beat of each: y = overflow(a + b) in WIDTH bits, overflow SAT = 1: clip to the signed range,
// SAT = 0: two's complement wrap-around (ap_fixed's AP_SAT / AP_WRAP).  A beat is taken from both
// inputs at once; one register stage.
module hwbnn_add #(
    parameter int E = 1,
    parameter int A_BITS = 8,
    parameter bit A_SIGNED = 1,
    parameter int B_BITS = 8,
    parameter bit B_SIGNED = 1,
    parameter int WIDTH = 8,
    parameter bit SAT = 1
) (
    input  logic                  clk,
    input  logic                  rst,
    input  logic                  a_valid,
    output logic                  a_ready,
    input  logic [E*A_BITS-1:0]   a_data,
    input  logic                  b_valid,
    output logic                  b_ready,
    input  logic [E*B_BITS-1:0]   b_data,
    output logic                  out_valid,
    input  logic                  out_ready,
    output logic [E*WIDTH-1:0]    out_data
);
  localparam int AB = (A_BITS > B_BITS) ? A_BITS : B_BITS;
  localparam int SW = ((AB > WIDTH) ? AB : WIDTH) + 2;  // holds a + b and the output's bounds
  localparam logic signed [SW-1:0] HI = SW'((64'sd1 <<< (WIDTH - 1)) - 1);
  localparam logic signed [SW-1:0] LO = -HI - 1;

  wire take = a_valid && b_valid && (!out_valid || out_ready);
  assign a_ready = take;
  assign b_ready = take;

  // the low ``bits`` bits of ``raw``, sign-extended when ``sgn``
  function automatic logic signed [SW-1:0] ext(input logic [63:0] raw, input int bits, input bit sgn);
    logic signed [63:0] v;
    v = sgn ? ($signed(raw << (64 - bits)) >>> (64 - bits)) : $signed(raw & ((64'd1 << bits) - 1));
    ext = SW'(v);
  endfunction

  always_ff @(posedge clk) begin
    if (rst) out_valid <= 1'b0;
    else begin
      if (out_valid && out_ready) out_valid <= 1'b0;
      if (take) begin
        for (int i = 0; i < E; i++) begin
          logic signed [SW-1:0] s;
          s = ext(64'(a_data[i*A_BITS+:A_BITS]), A_BITS, A_SIGNED) + ext(64'(b_data[i*B_BITS+:B_BITS]), B_BITS, B_SIGNED);
          if (SAT) s = (s > HI) ? HI : ((s < LO) ? LO : s);
          out_data[i*WIDTH+:WIDTH] <= s[WIDTH-1:0];
        end
        out_valid <= 1'b1;
      end
    end
  end
endmodule
