// hwbnn_concat: channel concatenation of two NHWC image streams (BinaryDenseNet), one pixel per
// beat: the C1 values of a's pixel, then the C2 values of b's, in BITS bits each (sign-extended
// when signed).  A beat is taken from both inputs at once; one register stage.
module hwbnn_concat #(
    parameter int C1 = 1,
    parameter int C2 = 1,
    parameter int A_BITS = 1,
    parameter bit A_SIGNED = 0,
    parameter int B_BITS = 1,
    parameter bit B_SIGNED = 0,
    parameter int BITS = 1
) (
    input  logic                       clk,
    input  logic                       rst,
    input  logic                       a_valid,
    output logic                       a_ready,
    input  logic [C1*A_BITS-1:0]       a_data,
    input  logic                       b_valid,
    output logic                       b_ready,
    input  logic [C2*B_BITS-1:0]       b_data,
    output logic                       out_valid,
    input  logic                       out_ready,
    output logic [(C1+C2)*BITS-1:0]    out_data
);
  wire take = a_valid && b_valid && (!out_valid || out_ready);
  assign a_ready = take;
  assign b_ready = take;

  // the low ``bits`` bits of ``raw``, sign-extended when ``sgn``
  function automatic logic [BITS-1:0] ext(input logic [63:0] raw, input int bits, input bit sgn);
    logic signed [63:0] v;
    v = sgn ? ($signed(raw << (64 - bits)) >>> (64 - bits)) : $signed(raw & ((64'd1 << bits) - 1));
    ext = BITS'(v);
  endfunction

  always_ff @(posedge clk) begin
    if (rst) out_valid <= 1'b0;
    else begin
      if (out_valid && out_ready) out_valid <= 1'b0;
      if (take) begin
        for (int i = 0; i < C1; i++) out_data[i*BITS+:BITS] <= ext(64'(a_data[i*A_BITS+:A_BITS]), A_BITS, A_SIGNED);
        for (int i = 0; i < C2; i++)
          out_data[(C1+i)*BITS+:BITS] <= ext(64'(b_data[i*B_BITS+:B_BITS]), B_BITS, B_SIGNED);
        out_valid <= 1'b1;
      end
    end
  end
endmodule
