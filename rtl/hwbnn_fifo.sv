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
//
// OUT_REG = 1, BANKS > 1 (FIFOs deeper than one block RAM): the memory is BANKS banks of
// BANK_WORDS words (a power of two: one block RAM's depth at the beat's width), beat address a
// in bank a / BANK_WORDS.  Every bank is read every cycle at the read address, and each bank's
// read registered again beside its block RAM, zeroed (the register's synchronous reset) unless
// the address is in that bank; the OR of those registers is registered into m, the beat.  So
// neither the block RAMs' clock-to-out nor the wide selection over them meets other logic in a
// cycle.  The read pipeline does not stall: a beat
// leaves the memory only while fewer than SLOTS beats are out of it and not yet taken (in the
// pipeline, or in the SLOTS-register queue whose head is out_data), so every beat read has a
// slot.  One beat per cycle; SLOTS beats more room, four cycles more latency.
module hwbnn_fifo #(
    parameter int DEPTH = 2,
    parameter int BITS = 1,
    parameter bit OUT_REG = 0,
    parameter int BANKS = 1,
    parameter int BANK_WORDS = DEPTH
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
      if (push) wr <= (32'(wr) == DEPTH - 1) ? '0 : wr + 1'b1;
      if (pop) rd <= (32'(rd) == DEPTH - 1) ? '0 : rd + 1'b1;
      count <= count + (AW + 1)'(push) - (AW + 1)'(pop);
    end
  end

  if (OUT_REG && BANKS > 1) begin : g_banks
    localparam int LW = $clog2(BANK_WORDS);
    localparam int SLOTS = 5;  // at full rate 4 beats are out of the memory (3 in the pipeline, the head)
    // q[b]: bank b read at the read address; hot[b]: the address is in bank b; r[b]: q[b] where
    // hot[b], else 0 (a register's synchronous reset); m: the OR of all r, the beat read
    logic [BITS-1:0] q[BANKS], r[BANKS], any, m;
    logic [BANKS-1:0] hot;
    for (genvar b = 0; b < BANKS; b++) begin : g_bank
      // no_rw_check: no beat is popped in the cycle it is written (the count lags the write), so a
      // read that meets a write at its address is never used: no bypass logic for it
      (* ram_style = "block", no_rw_check *) logic [BITS-1:0] mem[BANK_WORDS];
      always_ff @(posedge clk) if (push && 32'(wr >> LW) == b) mem[wr[LW-1:0]] <= in_data;
      always_ff @(posedge clk) begin
        q[b] <= mem[rd[LW-1:0]];
        hot[b] <= 32'(rd >> LW) == b;
        r[b] <= hot[b] ? q[b] : '0;
      end
    end
    always_comb begin
      any = '0;
      for (int b = 0; b < BANKS; b++) any = any | r[b];
    end
    // the beat popped at edge t is in q during t+1, r during t+2, m during t+3 (valid: flight[2])
    logic [2:0] flight;
    logic [BITS-1:0] slot[SLOTS];
    logic [2:0] filled, out_of_memory;  // beats in the slots; beats popped and not yet taken
    logic room;  // out_of_memory < SLOTS after this cycle: a beat popped then has a slot
    wire take = out_valid && out_ready;
    wire arrive = flight[2];
    assign core_ready = room;
    assign out_data = slot[0];
    always_ff @(posedge clk) begin
      m <= any;
      for (int i = 0; i < SLOTS; i++) begin
        if (take && i + 1 < 32'(filled)) slot[i] <= slot[i+1];
        else if (arrive && i == 32'(filled) - 32'(take)) slot[i] <= m;
      end
      if (rst) begin
        flight <= '0;
        filled <= '0;
        out_of_memory <= '0;
        room <= 1'b1;
        out_valid <= 1'b0;
      end else begin
        flight <= {flight[1:0], pop};
        filled <= filled + 3'(arrive) - 3'(take);
        out_of_memory <= out_of_memory + 3'(pop) - 3'(take);
        room <= 32'(out_of_memory) + 32'(pop) - 32'(take) < SLOTS;
        out_valid <= 32'(filled) + 32'(arrive) - 32'(take) != 0;
      end
    end
  end else if (OUT_REG) begin : g_slice
    // q: the memory's registered read; r1: a register loaded from q alone; then the head
    // (out_data) and the spare, each stage with its valid bit and moving on when the next is free
    logic [BITS-1:0] q, r1, spare;
    logic q_valid, r1_valid, spare_valid;
    logic [BITS-1:0] mem[DEPTH];
    wire head_free = !out_valid || out_ready;
    wire take_r1 = r1_valid && !spare_valid;  // r1 goes to the head, or to the spare
    wire move_q = q_valid && (!r1_valid || take_r1);
    assign core_ready = !q_valid || move_q;
    always_ff @(posedge clk) begin
      if (push) mem[wr] <= in_data;
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
    logic [BITS-1:0] mem[DEPTH];
    always_ff @(posedge clk) if (push) mem[wr] <= in_data;
    assign core_ready = out_ready;
    assign out_valid = core_valid;
    assign out_data = mem[rd];
  end
endmodule
