package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quflx/quflx-tui/model"
)

type postgresStore struct {
	pool         *pgxpool.Pool
	describe     string
	noEventTimes bool // see sqliteStore
	version      int
}

func openPostgres(ctx context.Context, dsn string) (Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: postgres DSN %s: %w", redactDSN(dsn), scrubErr(err, dsn))
	}
	describe := describePostgres(cfg.ConnConfig)
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "quflx-tui"
	}
	// A quflx-tui process that freezes mid-transaction (a hung host, a cut network) must
	// not hold its locks for the hours TCP keepalive takes: the server ends the session.
	if _, ok := cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !ok {
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = "60000"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", describe, scrubErr(err, dsn))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: open %s: %w", describe, scrubErr(err, dsn))
	}
	if err := migratePostgres(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &postgresStore{pool: pool, describe: describe}, nil
}

// describePostgres names a database from its parsed settings, never from the DSN's text:
// a password the text's reader and pgx split differently cannot come out here.
func describePostgres(c *pgx.ConnConfig) string {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))), Path: "/" + c.Database}
	if c.User != "" {
		u.User = url.User(c.User)
	}
	return u.String()
}

func (s *postgresStore) Kind() string     { return "postgres" }
func (s *postgresStore) Describe() string { return s.describe }

func (s *postgresStore) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.describe, err)
	}
	return nil
}

func (s *postgresStore) Close() error {
	s.pool.Close()
	return nil
}

// Write first looks up which ticks are stored already and COPYs the others straight into
// historical_ticks, in key order (see insertTicksCopy). Should another writer commit some
// of the same ticks between the look-up and the COPY, the COPY fails on the unique key,
// the transaction is rolled back whole, and the batch is written again in a new one that
// skips known keys in the database itself (INSERT ... ON CONFLICT DO NOTHING).
func (s *postgresStore) Write(ctx context.Context, b Batch) (WriteResult, error) {
	res, err := s.write(ctx, b, false)
	if errors.Is(err, errTicksRaced) {
		res, err = s.write(ctx, b, true)
	}
	return res, err
}

func (s *postgresStore) write(ctx context.Context, b Batch, onConflict bool) (WriteResult, error) {
	return writeBatch(ctx, b, func(ctx context.Context) (batchTx, error) {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return nil, err
		}
		return postgresTx{tx: tx, onConflict: onConflict}, nil
	})
}

// postgresTx is a write transaction.
type postgresTx struct {
	tx pgx.Tx
	// onConflict inserts ticks with INSERT ... ON CONFLICT DO NOTHING instead of COPY:
	// slower, but it cannot fail on a key another writer committed meanwhile.
	onConflict bool
}

func (t postgresTx) insertTicks(ctx context.Context, rows []tickRow) ([]bool, int, error) {
	if t.onConflict {
		return insertTicksOnConflict(ctx, t.tx, rows)
	}
	return insertTicksCopy(ctx, t.tx, rows)
}

func (t postgresTx) upsertDeltas(ctx context.Context, deltas []candleDelta) error {
	return upsertDeltasPostgres(ctx, t.tx, deltas)
}

func (t postgresTx) insertDead(ctx context.Context, dead []deadRow) error {
	return insertDeadPostgres(ctx, t.tx, dead)
}

// advanceClaims moves each claim's committed count on, in one round trip: the statements
// run in claim order, so concurrent writers lock claim rows in one order.
func (t postgresTx) advanceClaims(ctx context.Context, spans []ClaimSpan) error {
	if len(spans) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	// A claim row held by another session is waited for briefly, not for as long as that
	// session lives: it may be a flusher frozen mid-transaction.
	b.Queue(fmt.Sprintf(`SET LOCAL lock_timeout = '%dms'`, ClaimLockWait.Milliseconds()))
	for _, sp := range spans {
		if sp.From == 0 {
			b.Queue(`INSERT INTO quflx_claim_progress (claim_id, committed) VALUES ($1, $2)
				ON CONFLICT (claim_id) DO NOTHING`, sp.ID, sp.To)
		} else {
			b.Queue(`UPDATE quflx_claim_progress SET committed = $1, updated_at = now()
				WHERE claim_id = $2 AND committed = $3`, sp.To, sp.ID, sp.From)
		}
	}
	b.Queue(`SET LOCAL lock_timeout = DEFAULT`)
	br := t.tx.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return err
	}
	for _, sp := range spans {
		tag, err := br.Exec()
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
			return &ClaimBusyError{ID: sp.ID}
		}
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return claimConflict(sp)
		}
	}
	if _, err := br.Exec(); err != nil {
		return err
	}
	return br.Close()
}

func (t postgresTx) commit(ctx context.Context) error { return t.tx.Commit(ctx) }

// rollback runs even when ctx is what failed the transaction.
func (t postgresTx) rollback(ctx context.Context) { _ = t.tx.Rollback(context.WithoutCancel(ctx)) }

// insertTicksSQL moves the copied batch into historical_ticks, skipping known keys, and
// returns the batch positions (ord) of the rows that were new. Insertion in key order makes
// concurrent writers wait on each other instead of deadlocking; the order is the one
// insertTicksCopy inserts in (byte order of pair, as collation "C" compares), so that the
// two ways wait on each other in the same order too.
const insertTicksSQL = `WITH ins AS (
	INSERT INTO historical_ticks (pair, price, "timestamp", timestamp_us)
	SELECT pair, price::numeric, ts, ts_us FROM quflx_ticks_in ORDER BY pair COLLATE "C", ts_us, price::numeric
	ON CONFLICT (pair, timestamp_us, price) DO NOTHING
	RETURNING pair, timestamp_us, price
)
SELECT i.ord FROM ins
JOIN quflx_ticks_in i ON i.pair = ins.pair AND i.ts_us = ins.timestamp_us AND i.price::numeric = ins.price`

// insertTicksOnConflict COPYs the batch into a temporary table (COPY cannot skip conflicts
// itself), then inserts from it with ON CONFLICT DO NOTHING. It is Write's second way,
// after a race between insertTicksCopy's look-up and its COPY.
func insertTicksOnConflict(ctx context.Context, tx pgx.Tx, rows []tickRow) ([]bool, int, error) {
	isNew := make([]bool, len(rows))
	if len(rows) == 0 {
		return isNew, 0, nil
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE quflx_ticks_in (
		ord int4 NOT NULL, pair text NOT NULL, ts bigint NOT NULL, ts_us bigint NOT NULL, price text NOT NULL
	) ON COMMIT DROP`); err != nil {
		return nil, 0, fmt.Errorf("temporary table: %w", err)
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"quflx_ticks_in"}, []string{"ord", "pair", "ts", "ts_us", "price"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := &rows[i]
			return []any{int32(i), r.asset, r.sec, r.us, r.priceText}, nil
		}))
	if err != nil {
		return nil, 0, fmt.Errorf("copy: %w", err)
	}
	res, err := tx.Query(ctx, insertTicksSQL)
	if err != nil {
		return nil, 0, err
	}
	defer res.Close()
	inserted := 0
	for res.Next() {
		var ord int32
		if err := res.Scan(&ord); err != nil {
			return nil, 0, err
		}
		if ord < 0 || int(ord) >= len(rows) || isNew[ord] {
			return nil, 0, fmt.Errorf("insert returned unexpected batch position %d", ord)
		}
		isNew[ord] = true
		inserted++
	}
	if err := res.Err(); err != nil {
		return nil, 0, err
	}
	return isNew, inserted, nil
}

// errTicksRaced marks a COPY refused by the ticks' unique key: another writer committed
// some of the batch's ticks after the look-up that found them new.
var errTicksRaced = errors.New("ticks committed by another writer meanwhile")

// uniqueViolation is PostgreSQL's SQLSTATE for a duplicate key.
const uniqueViolation = "23505"

// copyTicksSQL COPYs in text format: a price goes as its canonical decimal text, so the
// stored numeric is exactly the key's, as with price::numeric.
const copyTicksSQL = `COPY historical_ticks (pair, price, "timestamp", timestamp_us) FROM STDIN`

// insertTicksCopy inserts the ticks not stored yet with one COPY into historical_ticks.
// COPY inserts in bulk, where INSERT ... SELECT ... ON CONFLICT inserts row by row, each
// with a speculative insertion, and its RETURNING then had to be joined back to the batch:
// for 50,000 new ticks the COPY takes about 190 ms where that took about 500. COPY cannot
// skip a key, so the stored ticks are looked up first (unstoredTicks) and left out.
//
// Rows go in key order, the order of insertTicksSQL too, so concurrent writers cannot
// deadlock on ticks: were A waiting on B's uncommitted key k and B on A's key j, A would
// have inserted j before reaching k and B k before reaching j, j < k < j. A key another
// writer committed after the look-up fails the COPY with errTicksRaced (Write then writes
// the batch again with insertTicksOnConflict).
func insertTicksCopy(ctx context.Context, tx pgx.Tx, rows []tickRow) ([]bool, int, error) {
	if len(rows) == 0 {
		return nil, 0, nil
	}
	order := keyOrder(rows)
	isNew, err := unstoredTicks(ctx, tx, rows, order)
	if err != nil {
		return nil, 0, fmt.Errorf("look up stored ticks: %w", err)
	}
	inserted := 0
	for _, n := range isNew {
		if n {
			inserted++
		}
	}
	if inserted == 0 {
		return isNew, 0, nil
	}
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, &tickCopySource{rows: rows, order: order, isNew: isNew}, copyTicksSQL)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
			return nil, 0, fmt.Errorf("copy: %w: %w", errTicksRaced, err)
		}
		return nil, 0, fmt.Errorf("copy: %w", err)
	}
	if tag.RowsAffected() != int64(inserted) {
		return nil, 0, fmt.Errorf("copy stored %d rows of %d", tag.RowsAffected(), inserted)
	}
	return isNew, inserted, nil
}

// keyOrder returns the batch positions of rows in key order: pair in byte order (as
// collation "C" compares), then timestamp_us, then price. Prices are canonical, so their
// float order is their numeric order. Rows are put by asset first, keeping arrival order,
// which for a feed is mostly time order already: each asset's sort is then nearly linear.
func keyOrder(rows []tickRow) []int32 {
	var assets []string
	count := map[string]int{}
	for i := range rows {
		if count[rows[i].asset] == 0 {
			assets = append(assets, rows[i].asset)
		}
		count[rows[i].asset]++
	}
	slices.Sort(assets)
	start := make(map[string]int, len(assets))
	next := 0
	for _, a := range assets {
		start[a] = next
		next += count[a]
	}
	order := make([]int32, len(rows))
	for i := range rows {
		order[start[rows[i].asset]] = int32(i)
		start[rows[i].asset]++
	}
	byTime := func(a, b int32) int {
		return cmp.Or(cmp.Compare(rows[a].us, rows[b].us), cmp.Compare(rows[a].price, rows[b].price))
	}
	for from := 0; from < len(order); {
		to := from + count[rows[order[from]].asset]
		if part := order[from:to]; !slices.IsSortedFunc(part, byTime) {
			slices.SortFunc(part, byTime)
		}
		from = to
	}
	return order
}

// lookupGap is the widest gap between successive ticks of an asset within one span that
// unstoredTicks reads: a batch's ticks of an asset, which usually follow each other well
// within it, make one span.
const lookupGap = 1_000_000 // µs

// storedInSpansSQL returns the stored ticks within time spans of assets, up to a limit:
// one index range scan per span. $1..$3 are the spans' assets, first and last
// timestamp_us; each row names its span (from 1).
const storedInSpansSQL = `SELECT s.n, h.timestamp_us, h.price::text
FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS s(pair, lo, hi, n)
CROSS JOIN LATERAL (SELECT timestamp_us, price FROM historical_ticks h
	WHERE h.pair = s.pair AND h.timestamp_us BETWEEN s.lo AND s.hi) h
LIMIT $4`

// storedByKeySQL returns the positions (from 1) of the given keys that are stored: one
// index probe per key.
const storedByKeySQL = `SELECT u.n
FROM unnest($1::text[], $2::bigint[], $3::text[]) WITH ORDINALITY AS u(pair, us, price, n)
CROSS JOIN LATERAL (SELECT 1 FROM historical_ticks h
	WHERE h.pair = u.pair AND h.timestamp_us = u.us AND h.price = u.price::numeric LIMIT 1) h`

// unstoredTicks reports, by batch position, which rows are not stored yet. It reads the
// stored ticks within the spans of time the batch covers, per asset (runs of ticks at most
// lookupGap apart): for a feed moving forward the spans hold nothing and cost one index
// probe each; a replay costs about a row per stored tick within them. Only should the spans
// hold many more stored ticks than the batch (a sparse batch over a dense history) does it
// look each tick up by its key instead.
func unstoredTicks(ctx context.Context, tx pgx.Tx, rows []tickRow, order []int32) ([]bool, error) {
	type span struct{ from, to int } // positions in order
	var spans []span
	var pairs []string
	var lo, hi []int64
	for k, i := range order {
		r := &rows[i]
		if n := len(spans) - 1; n >= 0 && pairs[n] == r.asset && r.us-hi[n] <= lookupGap {
			hi[n], spans[n].to = r.us, k+1
			continue
		}
		spans = append(spans, span{k, k + 1})
		pairs, lo, hi = append(pairs, r.asset), append(lo, r.us), append(hi, r.us)
	}
	limit := 2*len(rows) + 1000
	res, err := tx.Query(ctx, storedInSpansSQL, pairs, lo, hi, limit)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	isNew := make([]bool, len(rows))
	for i := range isNew {
		isNew[i] = true
	}
	read := 0
	var n, us int64
	var price string
	for res.Next() {
		if err := res.Scan(&n, &us, &price); err != nil {
			return nil, err
		}
		read++
		if n < 1 || int(n) > len(spans) {
			return nil, fmt.Errorf("look-up returned unexpected span %d", n)
		}
		// The span's rows in order are sorted by timestamp_us: find those of this one.
		sp := order[spans[n-1].from:spans[n-1].to]
		price = trimDecimal(price)
		for k, _ := slices.BinarySearchFunc(sp, us, func(i int32, us int64) int { return cmp.Compare(rows[i].us, us) }); k < len(sp) && rows[sp[k]].us == us; k++ {
			if rows[sp[k]].priceText == price {
				isNew[sp[k]] = false
			}
		}
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	if read < limit {
		return isNew, nil
	}
	return unstoredByKey(ctx, tx, rows, order)
}

// unstoredByKey is unstoredTicks by one index probe per tick.
func unstoredByKey(ctx context.Context, tx pgx.Tx, rows []tickRow, order []int32) ([]bool, error) {
	pairs := make([]string, len(order))
	us := make([]int64, len(order))
	prices := make([]string, len(order))
	for k, i := range order {
		pairs[k], us[k], prices[k] = rows[i].asset, rows[i].us, rows[i].priceText
	}
	res, err := tx.Query(ctx, storedByKeySQL, pairs, us, prices)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	isNew := make([]bool, len(rows))
	for i := range isNew {
		isNew[i] = true
	}
	for res.Next() {
		var n int64
		if err := res.Scan(&n); err != nil {
			return nil, err
		}
		if n < 1 || int(n) > len(order) {
			return nil, fmt.Errorf("look-up returned unexpected position %d", n)
		}
		isNew[order[n-1]] = false
	}
	return isNew, res.Err()
}

// trimDecimal drops the trailing zeros of a decimal's text (numeric(20,10) prints ten
// places), and the point if nothing follows it: the canonical text of the same value.
func trimDecimal(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// tickCopySource is the text COPY data of the new rows, in key order, made as it is read
// (so that making it overlaps with the server's inserting).
type tickCopySource struct {
	rows  []tickRow
	order []int32
	isNew []bool
	next  int    // position in order
	buf   []byte // made and not yet read
}

func (c *tickCopySource) Read(p []byte) (int, error) {
	for len(c.buf) < len(p) && c.next < len(c.order) {
		i := c.order[c.next]
		c.next++
		if c.isNew[i] {
			c.buf = appendCopyRow(c.buf, &c.rows[i])
		}
	}
	if len(c.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.buf)
	c.buf = c.buf[:copy(c.buf, c.buf[n:])]
	return n, nil
}

// appendCopyRow appends r as a line of text COPY: pair, price, timestamp, timestamp_us.
func appendCopyRow(b []byte, r *tickRow) []byte {
	for i := 0; i < len(r.asset); i++ {
		// Bytes of multi-byte UTF-8 sequences are never ASCII: escaping byte by byte is safe.
		switch c := r.asset[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, c)
		}
	}
	b = append(b, '\t')
	b = append(b, r.priceText...)
	b = append(b, '\t')
	b = strconv.AppendInt(b, r.sec, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, r.us, 10)
	return append(b, '\n')
}

// candleInsert starts both candle statements: one multi-row insert from arrays, prices as
// decimal text so that numeric gets exactly the ticks' values.
const candleInsert = `INSERT INTO candles AS c (pair, timeframe, "timestamp", open_price, high_price,
	low_price, close_price, volume, open_us, close_us)
SELECT u.pair, '` + minuteTimeframe + `', u.ts, u.o::numeric, u.h::numeric, u.l::numeric, u.c::numeric, u.v, u.ou, u.cu
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
	$8::bigint[], $9::bigint[]) AS u(pair, ts, o, h, l, c, v, ou, cu)
ON CONFLICT (pair, timeframe, "timestamp") DO UPDATE SET `

// upsertDeltasSQL folds a batch's new ticks into stored candles by event time (see the
// package comment); rows without open_us/close_us count as opened and closed at the start.
const upsertDeltasSQL = candleInsert + `
	open_price = CASE WHEN EXCLUDED.open_us < COALESCE(c.open_us, c."timestamp" * 1000000)
		THEN EXCLUDED.open_price ELSE c.open_price END,
	close_price = CASE WHEN EXCLUDED.close_us >= COALESCE(c.close_us, c."timestamp" * 1000000)
		THEN EXCLUDED.close_price ELSE c.close_price END,
	high_price = GREATEST(c.high_price, EXCLUDED.high_price),
	low_price = LEAST(c.low_price, EXCLUDED.low_price),
	volume = COALESCE(c.volume, 0) + EXCLUDED.volume,
	open_us = LEAST(COALESCE(c.open_us, c."timestamp" * 1000000), EXCLUDED.open_us),
	close_us = GREATEST(COALESCE(c.close_us, c."timestamp" * 1000000), EXCLUDED.close_us)`

const replaceCandlesSQL = candleInsert + `
	open_price = EXCLUDED.open_price, high_price = EXCLUDED.high_price, low_price = EXCLUDED.low_price,
	close_price = EXCLUDED.close_price, volume = EXCLUDED.volume,
	open_us = EXCLUDED.open_us, close_us = EXCLUDED.close_us`

// candleArrays holds the columns of a multi-row candle statement.
type candleArrays struct {
	pair                  []string
	ts                    []int64
	open, high, low, clos []string
	volume, openUs, clUs  []int64
}

func (a *candleArrays) add(pair string, ts int64, o, h, l, c string, v, openUs, closeUs int64) {
	a.pair = append(a.pair, pair)
	a.ts = append(a.ts, ts)
	a.open = append(a.open, o)
	a.high = append(a.high, h)
	a.low = append(a.low, l)
	a.clos = append(a.clos, c)
	a.volume = append(a.volume, v)
	a.openUs = append(a.openUs, openUs)
	a.clUs = append(a.clUs, closeUs)
}

func (a *candleArrays) args() []any {
	return []any{a.pair, a.ts, a.open, a.high, a.low, a.clos, a.volume, a.openUs, a.clUs}
}

func upsertDeltasPostgres(ctx context.Context, tx pgx.Tx, deltas []candleDelta) error {
	if len(deltas) == 0 {
		return nil
	}
	var a candleArrays
	for _, d := range deltas {
		a.add(d.asset, d.start, d.openText, d.highText, d.lowText, d.closeText, d.volume, d.openUs, d.closeUs)
	}
	_, err := tx.Exec(ctx, upsertDeltasSQL, a.args()...)
	return err
}

func insertDeadPostgres(ctx context.Context, tx pgx.Tx, dead []deadRow) error {
	if len(dead) == 0 {
		return nil
	}
	pairs := make([]string, len(dead))
	payloads := make([]string, len(dead))
	reasons := make([]string, len(dead))
	sums := make([]string, len(dead))
	counts := make([]int64, len(dead))
	firsts := make([]time.Time, len(dead))
	lasts := make([]time.Time, len(dead))
	for i, d := range dead {
		pairs[i], payloads[i], reasons[i], sums[i] = d.asset, d.payload, d.reason, d.sha
		counts[i], firsts[i], lasts[i] = d.count, d.first, d.last
	}
	_, err := tx.Exec(ctx, `INSERT INTO dead_letters AS d (pair, payload, reason, payload_sha256, created_at,
		occurrences, first_seen, last_seen)
		SELECT u.pair, u.payload, u.reason, u.sha, u.first, u.n, u.first, u.last
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::timestamptz[],
			$7::timestamptz[]) AS u(pair, payload, reason, sha, n, first, last)
		ORDER BY u.pair, u.sha
		ON CONFLICT (pair, payload_sha256) DO UPDATE SET
			occurrences = d.occurrences + EXCLUDED.occurrences,
			first_seen = LEAST(d.first_seen, EXCLUDED.first_seen),
			last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen)`,
		pairs, payloads, reasons, sums, counts, firsts, lasts)
	return err
}

func (s *postgresStore) ClaimProgress(ctx context.Context, ids []string) (map[string]int64, error) {
	out := make(map[string]int64, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT claim_id, committed FROM quflx_claim_progress WHERE claim_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("store: claim progress: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("store: claim progress: %w", err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: claim progress: %w", err)
	}
	return out, nil
}

func (s *postgresStore) PruneClaimProgress(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM quflx_claim_progress WHERE updated_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("store: prune claim progress: %w", err)
	}
	return tag.RowsAffected(), nil
}

func (s *postgresStore) WriteCandles(ctx context.Context, asset string, candles []model.Candle) error {
	rows, err := prepareCandles(asset, candles)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	var a candleArrays
	for _, r := range rows {
		// History has no tick times: open and close count as at the minute's start, so live
		// ticks later keep the open and move the close.
		us := r.start * 1e6
		a.add(asset, r.start, r.openText, r.highText, r.lowText, r.closeText, r.volume, us, us)
	}
	if _, err := s.pool.Exec(ctx, replaceCandlesSQL, a.args()...); err != nil {
		return fmt.Errorf("store: write candles of %s: %w", asset, err)
	}
	return nil
}

func (s *postgresStore) Candles(ctx context.Context, asset string, tf model.Timeframe, limit int) ([]model.Candle, error) {
	return readCandles(ctx, s, asset, tf, math.MaxInt64, limit)
}

func (s *postgresStore) CandlesBefore(ctx context.Context, asset string, tf model.Timeframe, before int64, limit int) ([]model.Candle, error) {
	return readCandles(ctx, s, asset, tf, before, limit)
}

func (s *postgresStore) latestMinuteBefore(ctx context.Context, asset string, before int64) (int64, bool, error) {
	// One MAX per spelling: each is a single index probe. GREATEST ignores NULLs.
	var latest *int64
	err := s.pool.QueryRow(ctx, `SELECT GREATEST(
		(SELECT MAX("timestamp") FROM candles WHERE pair = $1 AND timeframe = '1m' AND "timestamp" < $2),
		(SELECT MAX("timestamp") FROM candles WHERE pair = $1 AND timeframe = '1M' AND "timestamp" < $2))`,
		asset, before).Scan(&latest)
	if err != nil {
		return 0, false, fmt.Errorf("newest minute: %w", err)
	}
	if latest == nil {
		return 0, false, nil
	}
	return *latest, true, nil
}

func (s *postgresStore) minuteRows(ctx context.Context, asset string, from, to int64) ([]minuteRow, error) {
	rows, err := s.pool.Query(ctx, minuteRowsQuery("$1", "$2", "$3", "::float8", !s.noEventTimes), asset, from, to)
	if err != nil {
		return nil, fmt.Errorf("minute rows: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (minuteRow, error) {
		var m minuteRow
		err := r.Scan(&m.start, &m.open, &m.high, &m.low, &m.close, &m.volume, &m.openUs, &m.closeUs)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("minute rows: %w", err)
	}
	return out, nil
}

func (s *postgresStore) CountTicks(ctx context.Context, asset string) (int64, error) {
	return s.count(ctx, "historical_ticks", asset)
}

func (s *postgresStore) CountDeadLetters(ctx context.Context, asset string) (int64, error) {
	return s.count(ctx, "dead_letters", asset)
}

func (s *postgresStore) CountDeadOccurrences(ctx context.Context, asset string) (int64, error) {
	return s.sum(ctx, "dead_letters", "occurrences", asset)
}

func (s *postgresStore) count(ctx context.Context, table, asset string) (int64, error) {
	return s.sum(ctx, table, "1", asset)
}

// sum adds expr over the rows of table (of asset, unless "").
func (s *postgresStore) sum(ctx context.Context, table, expr, asset string) (int64, error) {
	q := `SELECT COALESCE(SUM(` + expr + `), 0)::bigint FROM ` + table
	var args []any
	if asset != "" {
		q += ` WHERE pair = $1`
		args = append(args, asset)
	}
	var n int64
	if err := s.pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count %s: %w", table, err)
	}
	return n, nil
}
