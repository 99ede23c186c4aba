using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace OneDiff.MLNet;

/// <summary>
/// The input data plus the generated caption column (and the change map columns where asked for).
/// Captions are generated in batches for all rows when the first cursor asks for them, then served
/// by row position (the view does not shuffle).
/// </summary>
internal sealed class CaptionedDataView(DiffCaptionTransformer transformer, IDataView input, DataViewSchema schema) : IDataView
{
    readonly object _gate = new();
    IReadOnlyList<CaptionOutcome>? _outcomes;

    public bool CanShuffle => false;
    public DataViewSchema Schema => schema;
    public long? GetRowCount() => input.GetRowCount();

    IReadOnlyList<CaptionOutcome> Outcomes()
    {
        lock (_gate)
        {
            if (_outcomes is not null) return _outcomes;
            // Rows stream (images may be in memory); ML.NET's progress channel counts the pairs captioned.
            var rows = ImagePairTable.Read(input, transformer.Settings.Columns, requireReferences: false);
            long? total = input.GetRowCount();
            using var progress = transformer.Host?.StartProgressChannel("OneDiff captioning");
            int done = 0;
            progress?.SetHeader(new ProgressHeader(["pairs"]), e =>
            {
                if (total is { } t) e.SetProgress(0, Volatile.Read(ref done), t);
                else e.SetProgress(0, Volatile.Read(ref done));
            });
            var outcomes = new List<CaptionOutcome>();
            foreach (var outcome in transformer.EnumerateOutcomes(rows))
            {
                outcomes.Add(outcome);
                Interlocked.Increment(ref done);
            }
            return _outcomes = outcomes;
        }
    }

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.ToList();
        var inputColumns = needed.Where(c => c.Index < input.Schema.Count).Select(c => input.Schema[c.Index]).ToList();
        bool wantsGenerated = needed.Any(c => c.Index >= input.Schema.Count);
        return new Cursor(this, input.GetRowCursor(inputColumns), wantsGenerated ? Outcomes() : null);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    sealed class Cursor(CaptionedDataView view, DataViewRowCursor inner, IReadOnlyList<CaptionOutcome>? outcomes) : DataViewRowCursor
    {
        public override DataViewSchema Schema => view.Schema;
        public override long Position => inner.Position;
        public override long Batch => inner.Batch;
        public override bool MoveNext() => inner.MoveNext();
        public override ValueGetter<DataViewRowId> GetIdGetter() => inner.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) =>
            column.Index >= inner.Schema.Count ? outcomes is not null : inner.IsColumnActive(inner.Schema[column.Index]);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < inner.Schema.Count) return inner.GetGetter<TValue>(inner.Schema[column.Index]);
            if (outcomes is null) throw new InvalidOperationException($"column '{column.Name}' was not requested when this cursor was made");
            return GeneratedColumns.Getter<TValue>(column, column.Index - inner.Schema.Count, () => outcomes[(int)inner.Position]);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}

/// <summary>Maps single rows (PredictionEngine): the caption of the current input row, generated on demand.</summary>
internal sealed class CaptionRowMapper(DiffCaptionTransformer transformer, DataViewSchema inputSchema, DataViewSchema outputSchema) : IRowToRowMapper
{
    public DataViewSchema InputSchema => inputSchema;
    public DataViewSchema OutputSchema => outputSchema;

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns) =>
        dependingColumns.Any(c => c.Index >= inputSchema.Count)
            ? ImagePairTable.UsedColumns(inputSchema, transformer.Settings.Columns)
            : dependingColumns.Where(c => c.Index < inputSchema.Count).Select(c => inputSchema[c.Index]);

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns) =>
        new Row(this, input, ImagePairTable.RowReader(input, transformer.Settings.Columns, requireReferences: false));

    sealed class Row(CaptionRowMapper mapper, DataViewRow input, Func<long, ImagePairRow> read) : DataViewRow
    {
        public override DataViewSchema Schema => mapper.OutputSchema;
        public override long Position => input.Position;
        public override long Batch => input.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) =>
            column.Index >= input.Schema.Count || input.IsColumnActive(input.Schema[column.Index]);

        // A PredictionEngine reuses this row for each prediction: the outcome is made again when
        // the input row has moved on, and shared by the caption and map getters of one row.
        long _position = -1;
        CaptionOutcome? _outcome;

        CaptionOutcome Current()
        {
            long position = Math.Max(0, input.Position);
            if (_outcome is null || _position != position || !mapper.Reusable)
            {
                _outcome = mapper.Transformer.EnumerateOutcomes([read(position)]).First();
                _position = position;
            }
            return _outcome;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < input.Schema.Count) return input.GetGetter<TValue>(input.Schema[column.Index]);
            return GeneratedColumns.Getter<TValue>(column, column.Index - input.Schema.Count, Current);
        }
    }

    DiffCaptionTransformer Transformer => transformer;

    /// <summary>Whether one outcome may serve several getter calls at one position: only with maps,
    /// whose getters read the same caption's outcome (a caption alone is generated on every call, as before).</summary>
    bool Reusable => transformer.Settings.ChangeMaps is not null;
}

/// <summary>Getters of the generated columns: the caption (0), then the before (1) and after (2) maps.</summary>
internal static class GeneratedColumns
{
    public static ValueGetter<TValue> Getter<TValue>(DataViewSchema.Column column, int generated, Func<CaptionOutcome> outcome)
    {
        if (generated == 0)
        {
            if (typeof(TValue) != typeof(ReadOnlyMemory<char>)) throw new InvalidOperationException($"column '{column.Name}' is text; asked for {typeof(TValue).Name}");
            ValueGetter<ReadOnlyMemory<char>> text = (ref ReadOnlyMemory<char> value) => value = outcome().Caption.AsMemory();
            return (ValueGetter<TValue>)(Delegate)text;
        }
        if (typeof(TValue) != typeof(VBuffer<float>)) throw new InvalidOperationException($"column '{column.Name}' is a vector of floats; asked for {typeof(TValue).Name}");
        ValueGetter<VBuffer<float>> map = (ref VBuffer<float> value) =>
        {
            var m = outcome().Map ?? throw new InvalidOperationException($"column '{column.Name}': the caption was made without a change map");
            var values = generated == 1 ? m.Before : m.After;
            var editor = VBufferEditor.Create(ref value, values.Length);
            values.CopyTo(editor.Values);
            value = editor.Commit();
        };
        return (ValueGetter<TValue>)(Delegate)map;
    }
}
