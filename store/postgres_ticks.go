package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Ticks into PostgreSQL exactly once: the stored ones looked up and the rest COPYed in
// key order, or, when another writer raced the look-up, an insert that skips known keys.

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
	isNew := allNew(len(rows))
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
	isNew := allNew(len(rows))
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

// allNew is n rows none of which is known to be stored yet.
func allNew(n int) []bool {
	isNew := make([]bool, n)
	for i := range isNew {
		isNew[i] = true
	}
	return isNew
}
