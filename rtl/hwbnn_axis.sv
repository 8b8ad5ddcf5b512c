// hwbnn_axis: hwbnn_top as an AXI4-Stream slave (input) and master (output), for an AXI DMA.
//
// Host byte layout (the same on both sides): each value takes VB = ceil(BITS / 8) bytes, least
// significant byte first (an output value sign-extended to 8*VB bits where OUT_SIGNED); a
// beat's ELEMS values are consecutive (value k at bytes [k*VB, (k+1)*VB)), then zero bytes up
// to a whole number of TDATA words.  Byte j of a beat travels in its word j / (TDATA_W / 8), at
// TDATA[8*(j % (TDATA_W / 8)) +: 8]: the little-endian memory image of the DMA buffer.
// Frames follow each other: BEATS beats of a frame, frame after frame, no gaps.
//
// TLAST: on the input, s_axis_tlast on the last word of a frame marks the last frame of a
// batch (an AXI DMA MM2S sets it on the last word of each transfer; elsewhere it is ignored);
// m_axis_tlast is set on the last word of the output frame of that same frame, so one S2MM
// transfer takes a whole batch (FINN's one transfer per batch).  A FIFO of FLAG_DEPTH flags (one
// per frame in flight) carries the marks; while it is full no input word is taken.
//
// Clocking: ap_clk, ap_rst_n active low (synchronous, as hwbnn_top's rst).  Full rate: one word
// per cycle on each side when the network keeps up.
module hwbnn_axis #(
    parameter int IN_W = 96,  // hwbnn_top's in_data width
    parameter int IN_ELEMS = 1,
    parameter int IN_BITS = 8,
    parameter int IN_BEATS = 1,  // beats per input frame
    parameter int S_W = 8,  // s_axis_tdata width
    parameter int OUT_W = 96,  // hwbnn_top's out_data width
    parameter int OUT_ELEMS = 1,
    parameter int OUT_BITS = 8,
    parameter int OUT_SIGNED = 0,
    parameter int OUT_BEATS = 1,
    parameter int M_W = 8,  // m_axis_tdata width
    parameter int FLAG_DEPTH = 64
) (
    input  logic           ap_clk,
    input  logic           ap_rst_n,
    input  logic           s_axis_tvalid,
    output logic           s_axis_tready,
    input  logic [S_W-1:0] s_axis_tdata,
    input  logic           s_axis_tlast,
    output logic           m_axis_tvalid,
    input  logic           m_axis_tready,
    output logic [M_W-1:0] m_axis_tdata,
    output logic           m_axis_tlast
);
  localparam int IVB = (IN_BITS + 7) / 8;
  localparam int OVB = (OUT_BITS + 7) / 8;
  localparam int NI = (8 * IVB * IN_ELEMS + S_W - 1) / S_W;  // words per input beat
  localparam int NO = (8 * OVB * OUT_ELEMS + M_W - 1) / M_W;  // words per output beat
  localparam int IN_WORDS = NI * IN_BEATS;  // words per input frame
  localparam int FAW = (FLAG_DEPTH > 1) ? $clog2(FLAG_DEPTH) : 1;

  logic rst;
  assign rst = !ap_rst_n;

  // --- input: words -> beats ------------------------------------------------------------
  logic [NI*S_W-1:0] gather;  // the beat's words, the first at the bottom once all are in
  logic gather_full;
  logic [31:0] gather_count, frame_word;
  logic top_in_ready, flags_full;
  logic [IN_W-1:0] top_in_data;
  logic s_fire, frame_end_in;

  assign s_axis_tready = (!gather_full || top_in_ready) && !flags_full;
  assign s_fire = s_axis_tvalid && s_axis_tready;
  assign frame_end_in = (frame_word == 32'(IN_WORDS - 1));
  always_comb begin
    top_in_data = '0;
    for (int k = 0; k < IN_ELEMS; k++) top_in_data[k*IN_BITS+:IN_BITS] = gather[k*8*IVB+:IN_BITS];
  end

  always_ff @(posedge ap_clk) begin
    if (rst) begin
      gather_full <= 1'b0;
      gather_count <= '0;
      frame_word <= '0;
    end else begin
      if (gather_full && top_in_ready) gather_full <= 1'b0;
      if (s_fire) begin
        gather <= (NI * S_W)'({s_axis_tdata, gather} >> S_W);
        if (gather_count == 32'(NI - 1)) begin
          gather_count <= '0;
          gather_full  <= 1'b1;
        end else gather_count <= gather_count + 1;
        frame_word <= frame_end_in ? '0 : frame_word + 1;
      end
    end
  end

  // --- batch marks: one flag per frame in flight ------------------------------------------
  logic flags[FLAG_DEPTH];
  logic [FAW-1:0] flag_wr, flag_rd;
  logic [FAW:0] flag_count;
  logic flag_push, flag_pop;

  assign flags_full = (32'(flag_count) == FLAG_DEPTH);
  assign flag_push = s_fire && frame_end_in;
  always_ff @(posedge ap_clk) begin
    if (rst) begin
      flag_wr <= '0;
      flag_rd <= '0;
      flag_count <= '0;
    end else begin
      if (flag_push) begin
        flags[flag_wr] <= s_axis_tlast;
        flag_wr <= (32'(flag_wr) == FLAG_DEPTH - 1) ? '0 : flag_wr + 1'b1;
      end
      if (flag_pop) flag_rd <= (32'(flag_rd) == FLAG_DEPTH - 1) ? '0 : flag_rd + 1'b1;
      flag_count <= flag_count + (FAW + 1)'(flag_push) - (FAW + 1)'(flag_pop);
    end
  end

  // --- the network --------------------------------------------------------------------------
  logic top_out_valid, top_out_ready;
  logic [OUT_W-1:0] top_out_data;
  hwbnn_top net (
      .clk(ap_clk),
      .rst(rst),
      .in_valid(gather_full),
      .in_ready(top_in_ready),
      .in_data(top_in_data),
      .out_valid(top_out_valid),
      .out_ready(top_out_ready),
      .out_data(top_out_data)
  );

  // --- output: beats -> words -----------------------------------------------------------
  logic [NO*M_W-1:0] scatter, beat_bytes;  // the beat's words, the next one at the bottom
  logic scatter_valid, last_word, frame_end_out, m_fire;
  logic [31:0] scatter_count, out_beat;

  always_comb begin
    beat_bytes = '0;
    for (int k = 0; k < OUT_ELEMS; k++) begin
      beat_bytes[k*8*OVB+:OUT_BITS] = top_out_data[k*OUT_BITS+:OUT_BITS];
      for (int b = OUT_BITS; b < 8 * OVB; b++)
        beat_bytes[k*8*OVB+b] = (OUT_SIGNED != 0) && top_out_data[k*OUT_BITS+OUT_BITS-1];
    end
  end
  assign last_word = (scatter_count == 32'(NO - 1));
  assign frame_end_out = last_word && (out_beat == 32'(OUT_BEATS - 1));
  assign m_fire = m_axis_tvalid && m_axis_tready;
  assign top_out_ready = !scatter_valid || (m_axis_tready && last_word);
  assign m_axis_tvalid = scatter_valid;
  assign m_axis_tdata = scatter[M_W-1:0];
  assign m_axis_tlast = scatter_valid && frame_end_out && flags[flag_rd];
  assign flag_pop = m_fire && frame_end_out;

  always_ff @(posedge ap_clk) begin
    if (rst) begin
      scatter_valid <= 1'b0;
      scatter_count <= '0;
      out_beat <= '0;
    end else begin
      if (m_fire) begin
        scatter <= scatter >> M_W;
        if (last_word) begin
          scatter_count <= '0;
          scatter_valid <= 1'b0;
          out_beat <= (out_beat == 32'(OUT_BEATS - 1)) ? '0 : out_beat + 1;
        end else scatter_count <= scatter_count + 1;
      end
      if (top_out_valid && top_out_ready) begin
        scatter <= beat_bytes;
        scatter_valid <= 1'b1;
      end
    end
  end
endmodule
