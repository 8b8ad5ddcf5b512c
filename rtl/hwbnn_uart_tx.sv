// hwbnn_uart_tx: 8N1 UART transmitter, a byte stream in (valid/ready).
//
// A byte is taken while the line is idle (in_ready) and sent as a start bit 0, the 8 data bits
// LSB first and a stop bit 1, each CLKS_PER_BIT cycles; the next byte is taken in the cycle
// after the stop bit ends, so back-to-back bytes leave 10 * CLKS_PER_BIT cycles apart.  tx idles
// at 1 (also in reset).  CLKS_PER_BIT >= 4 (any value >= 1 works here).
module hwbnn_uart_tx #(
    parameter int CLKS_PER_BIT = 4
) (
    input  logic       clk,
    input  logic       rst,
    input  logic       in_valid,
    output logic       in_ready,
    input  logic [7:0] in_data,
    output logic       tx
);
  localparam int CW = (CLKS_PER_BIT > 1) ? $clog2(CLKS_PER_BIT) : 1;

  logic [9:0] frame;  // the bits still to send, LSB first; frame[0] is on the line
  logic [3:0] left;  // bits still to send, the one on the line included (0: idle)
  logic [CW-1:0] count;  // cycles of the current bit still to go, minus one

  assign in_ready = (left == 4'd0);
  assign tx = (left == 4'd0) ? 1'b1 : frame[0];

  always_ff @(posedge clk) begin
    if (rst) begin
      frame <= '1;
      left <= 4'd0;
      count <= '0;
    end else if (in_valid && in_ready) begin
      frame <= {1'b1, in_data, 1'b0};
      left <= 4'd10;
      count <= CW'(CLKS_PER_BIT - 1);
    end else if (left != 4'd0) begin
      if (count != '0) begin
        count <= count - 1'b1;
      end else begin
        frame <= {1'b1, frame[9:1]};
        left <= left - 1'b1;
        count <= CW'(CLKS_PER_BIT - 1);
      end
    end
  end
endmodule
