// hwbnn_uart_rx: 8N1 UART receiver, a byte stream out (valid/ready).
//
// rx passes a 2-flop synchroniser (reset to the idle level 1).  A falling edge starts a frame:
// the start bit is sampled CLKS_PER_BIT/2 cycles later (a 0, else the edge was a glitch and the
// receiver returns to idle), then the 8 data bits, LSB first, and the stop bit each CLKS_PER_BIT
// cycles after the one before, i.e. mid-bit.  After the stop bit's sample the receiver waits for
// the next start edge, so a sender up to half a bit per frame fast is still received.
//
// The byte is held in out_data until taken.  overrun pulses for one cycle when a byte completes
// while the one before is still held (the new byte is dropped), frame_error when the stop bit is
// 0 (the byte is dropped).  CLKS_PER_BIT >= 4.
module hwbnn_uart_rx #(
    parameter int CLKS_PER_BIT = 4
) (
    input  logic       clk,
    input  logic       rst,
    input  logic       rx,
    output logic       out_valid,
    input  logic       out_ready,
    output logic [7:0] out_data,
    output logic       overrun,
    output logic       frame_error
);
  localparam int CW = $clog2(CLKS_PER_BIT);
  localparam logic [1:0] IDLE = 2'd0, START = 2'd1, DATA = 2'd2, STOP = 2'd3;

  logic rx_meta, rx_sync;
  logic [1:0] state;
  logic [CW-1:0] count;  // cycles to the next sample, minus one
  logic [2:0] nbit;  // data bits sampled, minus one
  logic [7:0] shift;

  always_ff @(posedge clk) begin
    if (rst) begin
      rx_meta <= 1'b1;
      rx_sync <= 1'b1;
    end else begin
      rx_meta <= rx;
      rx_sync <= rx_meta;
    end
  end

  always_ff @(posedge clk) begin
    if (rst) begin
      state <= IDLE;
      count <= '0;
      nbit <= '0;
      shift <= '0;
      out_valid <= 1'b0;
      out_data <= '0;
      overrun <= 1'b0;
      frame_error <= 1'b0;
    end else begin
      overrun <= 1'b0;
      frame_error <= 1'b0;
      if (out_valid && out_ready) out_valid <= 1'b0;
      if (state == IDLE) begin
        if (!rx_sync) begin
          state <= START;
          count <= CW'(CLKS_PER_BIT / 2 - 1);
        end
      end else if (count != '0) begin
        count <= count - 1'b1;
      end else begin
        count <= CW'(CLKS_PER_BIT - 1);
        case (state)
          START: begin
            state <= rx_sync ? IDLE : DATA;
            nbit <= '0;
          end
          DATA: begin
            shift <= {rx_sync, shift[7:1]};
            nbit <= nbit + 1'b1;
            if (nbit == 3'd7) state <= STOP;
          end
          default: begin  // STOP
            state <= IDLE;
            if (!rx_sync) frame_error <= 1'b1;
            else if (out_valid && !out_ready) overrun <= 1'b1;
            else begin
              out_valid <= 1'b1;
              out_data <= shift;
            end
          end
        endcase
      end
    end
  end
endmodule
