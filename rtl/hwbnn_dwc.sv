// hwbnn_dwc: stream width converter, IN_ELEMS values per input beat to OUT_ELEMS per output beat
// (any ratio), values of BITS bits, in order.  The buffer holds up to IN_ELEMS + OUT_ELEMS values:
// an input beat is taken while it fits, an output beat is given while OUT_ELEMS are held.
module hwbnn_dwc #(
    parameter int IN_ELEMS = 1,
    parameter int OUT_ELEMS = 1,
    parameter int BITS = 1
) (
    input  logic                      clk,
    input  logic                      rst,
    input  logic                      in_valid,
    output logic                      in_ready,
    input  logic [IN_ELEMS*BITS-1:0]  in_data,
    output logic                      out_valid,
    input  logic                      out_ready,
    output logic [OUT_ELEMS*BITS-1:0] out_data
);
  localparam int CAP = IN_ELEMS + OUT_ELEMS;
  localparam int CW = $clog2(CAP + 1);

  logic [CAP*BITS-1:0] buffer;
  logic [CW-1:0] count;

  assign in_ready = (32'(count) + IN_ELEMS <= CAP);
  assign out_valid = (32'(count) >= OUT_ELEMS);
  assign out_data = buffer[OUT_ELEMS*BITS-1:0];

  always_ff @(posedge clk) begin
    if (rst) begin
      count <= '0;
      buffer <= '0;
    end else begin
      logic [CAP*BITS-1:0] b;
      logic [CW-1:0] n;
      b = buffer;
      n = count;
      if (out_valid && out_ready) begin
        b = b >> (OUT_ELEMS * BITS);
        n = n - CW'(OUT_ELEMS);
      end
      if (in_valid && in_ready) begin
        b = b | ((CAP*BITS)'(in_data) << (32'(n) * BITS));
        n = n + CW'(IN_ELEMS);
      end
      buffer <= b;
      count <= n;
    end
  end
endmodule
