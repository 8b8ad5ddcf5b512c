// hwbnn_window: the sliding windows of a k x k convolution (stride S, padding PAD with the code
// PAD_VALUE), or (POOL = 1) k x k max pooling, on NHWC images, from a banked line buffer.
//
// Input: an image of H * W * C codes in (h, w, c) order, IN_ELEMS per beat (IN_ELEMS divides C:
// P = C / IN_ELEMS beats make a pixel).  Output: for each output pixel (oh, ow) in row-major order
// a vector of V values, OUT_ELEMS per beat (OUT_ELEMS divides V: NB = V / OUT_ELEMS beats):
//   POOL = 0: its window, V = K * K * C codes in (kh, kw, c) order (the matrix-vector unit's
//             input): x[oh * S - PAD + kh, ow * S - PAD + kw, c], PAD_VALUE outside the image;
//   POOL = 1: its V = C channels, y[c] = max over the window of x[oh * S + kh, ow * S + kw, c]
//             (no padding; on bits an OR; SIGNED: two's complement codes).
//
// Line buffer: R = K * ceil((2K + S) / K) row slots (a multiple of K, at least 2K + S, whatever H:
// a small image is double-buffered), a pixel of C codes per word.  Row ih of the reader's image
// is in slot (base + ih) mod R; base moves on by H per image, and the writer simply fills slot
// after slot.  Output row oh reads input rows first(oh) = max(0, oh * S - PAD) .. need(oh) =
// min(H - 1, oh * S - PAD + K - 1) (the last output row waits for the whole image), and is read
// once row need(oh) is written.  An input row is written once its slot no longer holds a row that
// is still read (it is below first + R; `written` counts the rows written from the reader's
// image's row 0 on, into the next images).  So the writer may run R - K >= K + S rows beyond those
// the reader needs, across images, and an image takes max(H * W * P, HO * WO * NB) cycles here.
//
// Banks: K x K memories with one write and one read port each.  Pixel (slot s, column iw) is in
//   bank (s mod K, iw mod K), word (s div K) * WQ + iw div K,   WQ = ceil(W / K), RQ = R / K.
// A window's K rows are K consecutive slots (mod R; R is a multiple of K) and its K columns K
// consecutive columns, so each bank holds exactly one of its K * K pixels.  With its top slot
// (base + oh * S - PAD) mod R = K * tq + tr and its left column ow * S - PAD = K * lq + lr,
//   bank (b, c) reads word ((tq + [b < tr]) mod RQ) * WQ + lq + [c < lr],
//   the pixel of window row kh = (b - tr) mod K and column kw = (c - lr) mod K
// (lq is -1 in the left padding; words of padding rows and columns are read and replaced by the
// pad code).  The row written is never one being read, so a bank's two ports never meet on a
// word.  No division: (tq, tr), (lq, lr), the writer's slot and column are counters with carries,
// stepped by constants (S per output pixel or row, H - (HO - 1) * S per image).
//
// Pipeline: the bank reads are registered (so they map to block or distributed RAM) into the
// window register; the output register is loaded with beat j of it.  Conv mode, OUT_ELEMS
// dividing C (a beat within one pixel): a mux over the window register's NB parts, its select a
// register stepped per beat through the banks in (kh, kw) order, the pad code where the pixel is
// outside the image; other OUT_ELEMS: the banks' pixels are first rotated into (kh, kw) order,
// with one-hot selects, padded, then a mux over NB groups.  Pooling registers the bank reads once
// more (a two-stage pipeline, rd_valid then win_valid), registers group j of the K * K pixels,
// then takes their max in a tree with a register after each of its log2(K * K) levels.  The next
// window is read as the last beat of this one leaves, so one is read every NB cycles.
module hwbnn_window #(
    parameter int H = 4,
    parameter int W = 4,
    parameter int C = 1,
    parameter int K = 3,
    parameter int S = 1,
    parameter int PAD = 0,
    parameter int PAD_VALUE = 0,
    parameter bit POOL = 0,
    parameter bit SIGNED = 0,
    parameter int BITS = 1,
    parameter int IN_ELEMS = 1,
    parameter int OUT_ELEMS = 1
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
  localparam int HO = (H + 2 * PAD - K) / S + 1;
  localparam int WO = (W + 2 * PAD - K) / S + 1;
  localparam int V = POOL ? C : K * K * C;  // values per output pixel
  localparam int NB = V / OUT_ELEMS;  // output beats per output pixel
  localparam int OB = OUT_ELEMS * BITS;  // bits per output beat
  localparam int PB = C * BITS;  // bits per pixel (a memory word)
  localparam int IB = IN_ELEMS * BITS;  // bits per input beat
  localparam int P = C / IN_ELEMS;  // input beats per pixel
  localparam int RQ = (3 * K + S - 1) / K;  // slots per row of banks: ceil((2K + S) / K)
  localparam int R = K * RQ;  // rows in the buffer
  localparam int WQ = (W + K - 1) / K;  // columns per column of banks
  localparam int D = RQ * WQ;  // words per bank
  localparam int AW = (D > 1) ? $clog2(D) : 1;
  localparam int KW = (K > 1) ? $clog2(K) : 1;
  localparam int RQW = (RQ > 1) ? $clog2(RQ) : 1;
  localparam int WCW = $clog2(WQ + 2) + 1;  // a column word index, signed (-1 in the padding)
  localparam int NW = $clog2(2 * H + W + 2 * R + 4 * K + 2 * PAD + S + 4) + 2;  // signed positions
  localparam int TW = (NB > 1) ? $clog2(NB) : 1;
  localparam int PW = (P > 1) ? $clog2(P) : 1;
  localparam int OHW = (HO > 1) ? $clog2(HO) : 1;
  localparam int OWW = (WO > 1) ? $clog2(WO) : 1;
  localparam int XW = (W > 1) ? $clog2(W) : 1;
  // constant steps: the top slot per output row (S) and per image (H - (HO - 1) * S), mod R
  localparam int ROW_STEP = S % R;
  localparam int IMG_STEP = ((H - (HO - 1) * S) % R + R) % R;
  localparam int TOP0 = ((-PAD) % R + R) % R;  // the first image's top slot (row -PAD)
  localparam int LR0 = ((-PAD) % K + K) % K;  // column -PAD = K * LQ0 + LR0
  localparam int LQ0 = (-PAD - LR0) / K;
  localparam int S_Q = S / K, S_R = S % K;
  localparam int ROW_Q = ROW_STEP / K, ROW_R = ROW_STEP % K;
  localparam int IMG_Q = IMG_STEP / K, IMG_R = IMG_STEP % K;

  // slot K * q + r plus K * dq + dr (< R), mod R: {q', r'}
  function automatic logic [RQW+KW-1:0] slot_add(input logic [RQW-1:0] q, input logic [KW-1:0] r,
                                                 input int dq, input int dr);
    int sr, sq;
    sr = 32'(r) + dr;
    sq = 32'(q) + dq;
    if (sr >= K) begin
      sr = sr - K;
      sq = sq + 1;
    end
    if (sq >= RQ) sq = sq - RQ;
    slot_add = {RQW'(sq), KW'(sr)};
  endfunction

  // column K * q + r plus S = K * (S / K) + S % K: {q', r'}
  function automatic logic [WCW+KW-1:0] col_add(input logic signed [WCW-1:0] q, input logic [KW-1:0] r);
    int sr, sq;
    sr = 32'(r) + S_R;
    sq = 32'(q) + S_Q;
    if (sr >= K) begin
      sr = sr - K;
      sq = sq + 1;
    end
    col_add = {WCW'(sq), KW'(sr)};
  endfunction

  // the flag `x == N - 1` of a counter x that counts 0 .. N - 1 and wraps, after one step: set
  // from x itself (x == N - 2), or from the flag where x wraps (N == 1)
  function automatic logic last_after_step(input logic is_last, input int x, input int n);
    last_after_step = is_last ? (n == 1) : (x == n - 2);
  endfunction

  // ---- writer: the beat wp of the pixel being assembled, its slot K * wq + wr and its column
  // wx = K * wcq + wc
  logic [PW-1:0] wp;
  logic [PB-1:0] part;  // the pixel's first P - 1 beats
  logic [KW-1:0] wr, wc;
  logic [RQW-1:0] wq;
  logic [AW-1:0] wcq;
  logic [XW-1:0] wx;
  // wp == P - 1, wx == W - 1, wc == K - 1: registers, stepped with the counters, so that no
  // comparison follows the input handshake on its way to the line buffer's enables
  logic wp_last, wx_last, wc_last;
  // rows of the reader's image written completely (beyond H: rows of the images after it)
  logic signed [NW-1:0] written;

  // ---- reader: the next window to read, output pixel (oh, ow), its top row ih0 = oh * S - PAD
  // in slot K * tq + tr, its left column iw0 = ow * S - PAD = K * lq + lr
  logic [OHW-1:0] oh;
  logic [OWW-1:0] ow;
  // ow == WO - 1, oh == HO - 1: registers, stepped with the counters (as the writer's flags)
  logic ow_last, oh_last;
  logic signed [NW-1:0] ih0, iw0;
  logic [KW-1:0] tr, lr;
  logic [RQW-1:0] tq;
  logic signed [WCW-1:0] lq;

  // ---- the window register (valid: win_valid) and the beat of it the output takes next
  logic win_valid;
  logic [TW-1:0] beat;
  logic last;  // beat == NB - 1, a register stepped with `beat`
  logic [K*K*PB-1:0] rd;  // bank (b, c) at [(b * K + c) * PB +: PB]
  logic [K-1:0] rd_row, rd_col;  // one-hot: bank row / column r holds window row / column 0
  logic [K-1:0] row_in, col_in;  // window row kh / column kw is in the image

  // need(oh) and first(oh) + R of the window read next: registers, set with (oh, ih0); the next
  // row's top ih0 + S is a register too.  `rows_ready` (written > need) and `in_ready`
  // (written < limit) are registers, computed from the next values of the three, so that no
  // carry chain sits between the handshakes and the line buffer's enables
  logic signed [NW-1:0] limit, need, next_top;
  logic signed [NW-1:0] written_n, limit_n, need_n;
  logic rows_ready;
  function automatic logic signed [NW-1:0] limit_of(input logic signed [NW-1:0] top);
    limit_of = (top[NW-1] ? '0 : top) + NW'(R);
  endfunction
  function automatic logic signed [NW-1:0] need_of(input logic last_row, input logic signed [NW-1:0] top);
    need_of = (last_row || top > NW'(H - K)) ? NW'(H - 1) : top + NW'(K - 1);
  endfunction
  wire fire = in_valid && in_ready;
  wire wen = fire && wp_last;  // a pixel is complete
  wire row_done = wen && wx_last;
  // beat_valid / beat_ready: the output register's handshake (POOL: the register of the window's
  // group, pool_grp, and the max tree's register stages after it, g_pool_out)
  logic beat_valid, beat_ready;
  wire load = win_valid && (!beat_valid || beat_ready);  // the output register takes a beat
  // POOL: the bank reads (valid: rd_valid) are registered once more into the window register
  // rd_q before the group multiplexer, so the block RAM's slow clock-to-out ends at a register;
  // the two registers form a two-stage pipeline, one window per NB cycles still
  logic rd_valid;
  wire rd_move = POOL && rd_valid && (!win_valid || (load && last));  // rd into rd_q
  // read the next window
  wire issue = rows_ready && (POOL ? (!rd_valid || rd_move) : (!win_valid || (load && last)));
  wire row_end = issue && ow_last;  // the last window of an output row is read
  wire img_done = row_end && oh_last;
  // in_ready and rows_ready next: every comparison the three registers can need, of registers
  // only (written or written + 1, less H after an image; the limit and need now, of the next
  // row, or of the next image's first); the late handshakes (row_done, row_end, img_done) only
  // select among them, so no carry chain follows them.  written + 1, written - H and
  // written + 1 - H are registers too, so that a comparison is the only carry chain in the path:
  // their next values are sums of `written` chosen by the handshakes, as written_n is
  logic signed [NW-1:0] w_1, w_h, w_h1;
  function automatic logic signed [NW-1:0] step(input logic signed [NW-1:0] same, input logic signed [NW-1:0] row,
                                                input logic signed [NW-1:0] img, input logic signed [NW-1:0] both);
    step = img_done ? (row_done ? both : img) : (row_done ? row : same);
  endfunction
  wire signed [NW-1:0] w_2 = written + NW'(2), w_h2 = written + NW'(2 - H);
  wire signed [NW-1:0] w_hh = written - NW'(2 * H), w_hh1 = written + NW'(1 - 2 * H), w_hh2 = written + NW'(2 - 2 * H);
  // limit_row / need_row: of the next output row (top next_top), registers set with next_top
  logic signed [NW-1:0] limit_row, need_row;
  // of an image's first output row (top -PAD) and its second (top S - PAD)
  localparam logic signed [NW-1:0] LimitImg = limit_of(NW'(-PAD)), NeedImg = need_of(HO == 1, NW'(-PAD));
  localparam logic signed [NW-1:0] LimitRow1 = limit_of(NW'(S - PAD)), NeedRow1 = need_of(HO == 2, NW'(S - PAD));
  wire [1:0] ready_same = {w_1 < limit, written < limit}, rows_same = {w_1 > need, written > need};
  wire [1:0] ready_row = {w_1 < limit_row, written < limit_row}, rows_row = {w_1 > need_row, written > need_row};
  wire [1:0] ready_img = {w_h1 < LimitImg, w_h < LimitImg}, rows_img = {w_h1 > NeedImg, w_h > NeedImg};
  wire in_ready_n = img_done ? ready_img[row_done] : row_end ? ready_row[row_done] : ready_same[row_done];
  wire rows_ready_n = img_done ? rows_img[row_done] : row_end ? rows_row[row_done] : rows_same[row_done];
  always_comb begin
    written_n = step(written, w_1, w_h, w_h1);
    limit_n = limit;
    need_n = need;
    if (img_done) begin
      limit_n = LimitImg;
      need_n = NeedImg;
    end else if (row_end) begin
      limit_n = limit_row;
      need_n = need_row;
    end
  end

  // the pixel written: the first P - 1 beats held, the last one now
  logic [PB-1:0] wdata;
  always_comb begin
    wdata = part;
    wdata[(P-1)*IB+:IB] = in_data;
  end
  // q * WQ for a slot row of banks q < RQ, as a choice of constants (no multiplier)
  function automatic logic [AW-1:0] row_word(input logic [RQW-1:0] q);
    row_word = '0;
    for (int i = 1; i < RQ; i++) if (32'(q) == i) row_word = AW'(i * WQ);
  endfunction
  wire [AW-1:0] waddr = row_word(wq) + wcq;

  // ---- the banks
  for (genvar b = 0; b < K; b++) begin : g_row
    // the slot of this bank row in the window: the top's row of banks, or the one after it
    wire [RQW-1:0] q = (32'(b) < 32'(tr)) ? ((32'(tq) == RQ - 1) ? '0 : tq + 1'b1) : tq;
    for (genvar c = 0; c < K; c++) begin : g_col
      wire signed [WCW-1:0] cq = (32'(c) < 32'(lr)) ? lq + 1'b1 : lq;
      wire [AW-1:0] raddr = row_word(q) + AW'(cq);
      logic [PB-1:0] mem[D];
      logic [PB-1:0] q_data;
      always_ff @(posedge clk) begin
        if (wen && 32'(wr) == b && 32'(wc) == c) mem[waddr] <= wdata;
        if (issue) q_data <= mem[raddr];
      end
      assign rd[(b*K+c)*PB+:PB] = q_data;
    end
  end

  // ---- the beat the output register takes (POOL: pool_grp, group `beat` of the window's pixels)
  logic [OB-1:0] next_out, out_q;
  logic [K*K*OB-1:0] pool_grp;  // POOL: group `beat` of the window's K * K pixels (g_pool_out's input)
  if (POOL) begin : g_pool
    // the window register rd_q (the block RAM's slow clock-to-out ends there), then group
    // `beat` of every pixel of it into a register, pool_grp; the max tree is g_pool_out
    logic [K*K*OB-1:0] grp;
    logic [K*K*PB-1:0] rd_q;
    always_ff @(posedge clk) if (rd_move) rd_q <= rd;
    always_comb begin
      grp = '0;
      for (int i = 0; i < K * K; i++)
        for (int g = 0; g < NB; g++)
          if (32'(beat) == g) grp[i*OB+:OB] = rd_q[i*PB+g*OB+:OB];
    end
    always_ff @(posedge clk) if (load) pool_grp <= grp;
    assign next_out = '0;
  end else if (C % OUT_ELEMS == 0) begin : g_pixel
    // a beat lies in one pixel: beat (kh, kw, g) is part g of bank ((tr + kh) mod K,
    // (lr + kw) mod K), a mux over the NB = K * K * G parts of the window register with the
    // select `bsel` = ((tr + kh) mod K * K + (lr + kw) mod K) * G + g a register (no rotation)
    localparam int G = C / OUT_ELEMS;  // beats per pixel
    localparam int GW = (G > 1) ? $clog2(G) : 1;
    logic [GW-1:0] bg;
    logic [KW-1:0] bkh, bkw, brow, bcol, blr;
    logic [TW-1:0] bsel;
    // (row * K + col) * G + g, as constants chosen by row and col (no multiplier)
    function automatic logic [TW-1:0] sel_of(input logic [KW-1:0] row, input logic [KW-1:0] col,
                                             input logic [GW-1:0] g);
      logic [TW-1:0] r, c;
      r = '0;
      c = '0;
      for (int i = 1; i < K; i++) begin
        if (32'(row) == i) r = TW'(i * K * G);
        if (32'(col) == i) c = TW'(i * G);
      end
      sel_of = r + c + TW'(g);
    endfunction
    function automatic logic [KW-1:0] wrap_inc(input logic [KW-1:0] x);
      wrap_inc = (32'(x) == K - 1) ? '0 : x + 1'b1;
    endfunction
    always_ff @(posedge clk) begin
      if (issue) begin  // the window read now: its beat 0
        {bg, bkh, bkw} <= '0;
        {brow, bcol, blr} <= {tr, lr, lr};
        bsel <= sel_of(tr, lr, '0);
      end else if (load) begin
        if (32'(bg) != G - 1) begin
          bg <= bg + 1'b1;
          bsel <= bsel + 1'b1;
        end else if (32'(bkw) != K - 1) begin
          bg <= '0;
          bkw <= bkw + 1'b1;
          bcol <= wrap_inc(bcol);
          bsel <= sel_of(brow, wrap_inc(bcol), '0);
        end else begin
          bg <= '0;
          bkw <= '0;
          bkh <= bkh + 1'b1;
          brow <= wrap_inc(brow);
          bcol <= blr;
          bsel <= sel_of(wrap_inc(brow), blr, '0);
        end
      end
    end
    assign next_out = (!row_in[bkh] || !col_in[bkw]) ? {OUT_ELEMS{BITS'(PAD_VALUE)}} : rd[bsel*OB+:OB];
  end else begin : g_conv
    // a beat across pixels: rows into kh order (bank row (tr + kh) mod K), then columns into kw order (lr + kw) mod K,
    // then the padding
    logic [K*K*PB-1:0] by_row, win;
    always_comb begin
      by_row = '0;
      for (int kh = 0; kh < K; kh++)
        for (int r = 0; r < K; r++)
          if (rd_row[r]) by_row[kh*K*PB+:K*PB] = rd[((r+kh)%K)*K*PB+:K*PB];
      win = '0;
      for (int kh = 0; kh < K; kh++)
        for (int kw = 0; kw < K; kw++) begin
          for (int r = 0; r < K; r++)
            if (rd_col[r]) win[(kh*K+kw)*PB+:PB] = by_row[(kh*K+(r+kw)%K)*PB+:PB];
          if (!row_in[kh] || !col_in[kw]) win[(kh*K+kw)*PB+:PB] = {C{BITS'(PAD_VALUE)}};
        end
      next_out = '0;
      for (int g = 0; g < NB; g++) if (32'(beat) == g) next_out = win[g*OB+:OB];
    end
  end

  always_ff @(posedge clk) begin
    if (rst) begin
      wp <= '0;
      wp_last <= (P == 1);
      wx_last <= (W == 1);
      wc_last <= (K == 1);
      wr <= '0;
      wq <= '0;
      wc <= '0;
      wcq <= '0;
      wx <= '0;
      written <= '0;
      w_1 <= NW'(1);
      w_h <= NW'(-H);
      w_h1 <= NW'(1 - H);
      oh <= '0;
      ow <= '0;
      oh_last <= (HO == 1);
      ow_last <= (WO == 1);
      ih0 <= NW'(-PAD);
      next_top <= NW'(S - PAD);
      limit_row <= LimitRow1;
      need_row <= NeedRow1;
      limit <= LimitImg;
      need <= NeedImg;
      in_ready <= NW'(0) < LimitImg;
      rows_ready <= NW'(0) > NeedImg;
      iw0 <= NW'(-PAD);
      tr <= KW'(TOP0 % K);
      tq <= RQW'(TOP0 / K);
      lr <= KW'(LR0);
      lq <= WCW'(LQ0);
      win_valid <= 1'b0;
      rd_valid <= 1'b0;
      beat <= '0;
      last <= (NB == 1);
      beat_valid <= 1'b0;
    end else begin
      // writer
      if (fire) begin
        for (int p = 0; p < P - 1; p++) if (32'(wp) == p) part[p*IB+:IB] <= in_data;
        wp <= wp_last ? '0 : wp + 1'b1;
        wp_last <= last_after_step(wp_last, 32'(wp), P);
      end
      if (wen) begin
        wx_last <= last_after_step(wx_last, 32'(wx), W);  // wx wraps exactly on row_done
        if (row_done) begin  // the next slot, column 0
          wx <= '0;
          wc <= '0;
          wc_last <= (K == 1);
          wcq <= '0;
          if (32'(wr) == K - 1) begin
            wr <= '0;
            wq <= (32'(wq) == RQ - 1) ? '0 : wq + 1'b1;
          end else wr <= wr + 1'b1;
        end else begin
          wx <= wx + 1'b1;
          if (wc_last) begin
            wc <= '0;
            wc_last <= (K == 1);
            wcq <= wcq + 1'b1;
          end else begin
            wc <= wc + 1'b1;
            wc_last <= (32'(wc) == K - 2);
          end
        end
      end
      written <= written_n;
      w_1 <= step(w_1, w_2, w_h1, w_h2);
      w_h <= step(w_h, w_h1, w_hh, w_hh1);
      w_h1 <= step(w_h1, w_h2, w_hh1, w_hh2);
      limit <= limit_n;
      need <= need_n;
      in_ready <= in_ready_n;
      rows_ready <= rows_ready_n;
      // reader: the window read moves on to the next output pixel
      if (issue) begin
        for (int k = 0; k < K; k++) begin
          rd_row[k] <= (32'(tr) == k);
          rd_col[k] <= (32'(lr) == k);
          row_in[k] <= (ih0 + k >= 0) && (ih0 + k < H);
          col_in[k] <= (iw0 + k >= 0) && (iw0 + k < W);
        end
        ow_last <= last_after_step(ow_last, 32'(ow), WO);
        if (ow_last) begin
          ow <= '0;
          iw0 <= NW'(-PAD);
          lr <= KW'(LR0);
          lq <= WCW'(LQ0);
          oh_last <= last_after_step(oh_last, 32'(oh), HO);
          if (oh_last) begin
            oh <= '0;
            ih0 <= NW'(-PAD);
            next_top <= NW'(S - PAD);
            limit_row <= LimitRow1;
            need_row <= NeedRow1;
            {tq, tr} <= slot_add(tq, tr, IMG_Q, IMG_R);
          end else begin
            oh <= oh + 1'b1;
            ih0 <= next_top;
            next_top <= next_top + NW'(S);
            limit_row <= limit_of(next_top + NW'(S));
            need_row <= need_of(32'(oh) + 1 == HO - 2, next_top + NW'(S));
            {tq, tr} <= slot_add(tq, tr, ROW_Q, ROW_R);
          end
        end else begin
          ow <= ow + 1'b1;
          iw0 <= iw0 + NW'(S);
          {lq, lr} <= col_add(lq, lr);
        end
      end
      // the window register and the output register
      if (POOL) begin
        if (issue) rd_valid <= 1'b1;
        else if (rd_move) rd_valid <= 1'b0;
      end
      if (POOL ? rd_move : issue) win_valid <= 1'b1;
      else if (load && last) win_valid <= 1'b0;
      if (load) begin
        beat_valid <= 1'b1;
        beat <= last ? '0 : beat + 1'b1;
        last <= last_after_step(last, 32'(beat), NB);
      end else if (beat_ready) beat_valid <= 1'b0;
    end
    if (load) out_q <= next_out;
  end
  if (POOL) begin : g_pool_out
    // the max per channel over the K * K pixels as a tree of K * K - 1 comparisons in
    // LEVELS = log2(K * K) levels, a register after each (so a clock period holds one
    // comparison and its multiplexer; the last register is the output).  The stages advance
    // together whenever the output is empty or read (bubbles move too): one beat a cycle.
    localparam int LEVELS = $clog2(K * K);
    // level l: the n(l) = ceil(K * K / 2^l) values v[i] = max(v[2 i], v[2 i + 1]) of level
    // l - 1 (an odd one out passes); all bounds are constants, so the loops unroll
    function automatic logic [K*K*OB-1:0] max_level(input logic [K*K*OB-1:0] v, input int lvl);
      logic [BITS-1:0] a, b;
      max_level = '0;
      for (int i = 0; i < (K * K + (1 << lvl) - 1) >> lvl; i++)
        for (int e = 0; e < OUT_ELEMS; e++) begin
          a = v[2*i*OB+e*BITS+:BITS];
          b = (2 * i + 1 < (K * K + (1 << (lvl - 1)) - 1) >> (lvl - 1)) ? v[(2*i+1)*OB+e*BITS+:BITS] : a;
          max_level[i*OB+e*BITS+:BITS] = (SIGNED ? ($signed(b) > $signed(a)) : (b > a)) ? b : a;
        end
    endfunction
    wire en = !out_valid || out_ready;
    assign beat_ready = en;
    logic [K*K*OB-1:0] lv[LEVELS+1];  // lv[l]: level l's register (lv[0]: pool_grp)
    logic [LEVELS:0] lvalid;  // lvalid[l]: lv[l] holds a beat
    assign lv[0] = pool_grp;
    assign lvalid[0] = beat_valid;
    for (genvar l = 1; l <= LEVELS; l++) begin : g_level
      always_ff @(posedge clk) begin
        if (rst) lvalid[l] <= 1'b0;
        else if (en) lvalid[l] <= lvalid[l-1];
        if (en) lv[l] <= max_level(lv[l-1], l);
      end
    end
    assign out_valid = lvalid[LEVELS];
    assign out_data = lv[LEVELS][OB-1:0];
  end else begin : g_window_out
    assign beat_ready = out_ready;
    assign out_valid = beat_valid;
    assign out_data = out_q;
  end
endmodule
