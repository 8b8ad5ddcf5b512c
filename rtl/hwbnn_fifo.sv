// hwbnn_fifo: a first-in first-out stream buffer of DEPTH beats of BITS bits.
//
// Between two layers it lets the producer run a frame ahead while the consumer re-reads its
// input for its other neuron folds, so each layer's schedule (NF * SF cycles) sets the
// interval between frames, not the sum of its neighbours'.
//
// OUT_REG = 1 (deep FIFOs, whose memory is a block RAM): the memory is read synchronously into
// q, q moves into a register r1 with no logic between them, and r1 into a two-register slice
// (head, and a spare that takes one more beat while the consumer waits).  So the block RAM's
// clock-to-out (5.8 ns on an ECP5-6) ends at a register placed beside it, not in a multiplexer
// or the consumer's logic.  One beat per cycle still; four beats more room, three cycles more
// latency.
module hwbnn_fifo #(
    parameter int DEPTH = 2,
    parameter int BITS = 1,
    parameter bit OUT_REG = 0
) (
    input  logic            clk,
    input  logic            rst,
    input  logic            in_valid,
    output logic            in_ready,
    input  logic [BITS-1:0] in_data,
    output logic            out_valid,
    input  logic            out_ready,
    output logic [BITS-1:0] out_data
);
  localparam int AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;

  logic [BITS-1:0] mem[DEPTH];
  logic [AW-1:0] rd, wr;
  logic [AW:0] count;

  // count != 0 and count < DEPTH as registers, set from the next count: no comparison of the
  // count sits between the handshakes of the two sides
  logic core_valid;
  logic core_ready;
  wire push = in_valid && in_ready;
  wire pop = core_valid && core_ready;

  always_ff @(posedge clk) begin
    if (rst) begin
      rd <= '0;
      wr <= '0;
      count <= '0;
      core_valid <= 1'b0;
      in_ready <= 1'b1;
    end else begin
      // the next count is count + push - pop: nonempty unless it was 0 (or 1 and popped) and
      // nothing came; full where it was DEPTH (or DEPTH - 1 and pushed) and nothing left
      core_valid <= push || (32'(count) > 1) || (count != '0 && !pop);
      in_ready <= pop || (32'(count) < DEPTH - 1) || (32'(count) != DEPTH && !push);
      if (push) begin
        mem[wr] <= in_data;
        wr <= (32'(wr) == DEPTH - 1) ? '0 : wr + 1'b1;
      end
      if (pop) rd <= (32'(rd) == DEPTH - 1) ? '0 : rd + 1'b1;
      count <= count + (AW + 1)'(push) - (AW + 1)'(pop);
    end
  end

  if (OUT_REG) begin : g_slice
    // q: the memory's registered read; r1: a register loaded from q alone; then the head
    // (out_data) and the spare, each stage with its valid bit and moving on when the next is free
    logic [BITS-1:0] q, r1, spare;
    logic q_valid, r1_valid, spare_valid;
    wire head_free = !out_valid || out_ready;
    wire take_r1 = r1_valid && !spare_valid;  // r1 goes to the head, or to the spare
    wire move_q = q_valid && (!r1_valid || take_r1);
    assign core_ready = !q_valid || move_q;
    always_ff @(posedge clk) begin
      if (pop) q <= mem[rd];
      if (move_q) r1 <= q;
      if (rst) begin
        q_valid <= 1'b0;
        r1_valid <= 1'b0;
        out_valid <= 1'b0;
        spare_valid <= 1'b0;
      end else begin
        if (pop) q_valid <= 1'b1;
        else if (move_q) q_valid <= 1'b0;
        if (move_q) r1_valid <= 1'b1;
        else if (take_r1) r1_valid <= 1'b0;
        if (head_free) begin  // the head moves on (or is empty)
          out_valid <= spare_valid || r1_valid;
          spare_valid <= 1'b0;
        end else if (take_r1) spare_valid <= 1'b1;  // the consumer waits: one more beat in the spare
      end
      if (head_free) out_data <= spare_valid ? spare : r1;
      else if (take_r1) spare <= r1;
    end
  end else begin : g_direct
    assign core_ready = out_ready;
    assign out_valid = core_valid;
    assign out_data = mem[rd];
  end
endmodule
