using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace OneDiff.MLNet;

/// <summary>
/// The input data plus the generated caption column. Captions are generated in batches for all
/// rows when the first cursor asks for them, then served by row position (the view does not shuffle).
/// </summary>
internal sealed class CaptionedDataView(DiffCaptionTransformer transformer, IDataView input, DataViewSchema schema) : IDataView
{
    readonly object _gate = new();
    IReadOnlyList<string>? _captions;

    public bool CanShuffle => false;
    public DataViewSchema Schema => schema;
    public long? GetRowCount() => input.GetRowCount();

    IReadOnlyList<string> Captions()
    {
        lock (_gate)
        {
            if (_captions is not null) return _captions;
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
            var captions = new List<string>();
            foreach (var caption in transformer.EnumerateCaptions(rows))
            {
                captions.Add(caption);
                Interlocked.Increment(ref done);
            }
            return _captions = captions;
        }
    }

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.ToList();
        int captionIndex = schema.Count - 1;
        var inputColumns = needed.Where(c => c.Index != captionIndex).Select(c => input.Schema[c.Index]).ToList();
        bool wantsCaption = needed.Any(c => c.Index == captionIndex);
        return new Cursor(this, input.GetRowCursor(inputColumns), wantsCaption ? Captions() : null);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    sealed class Cursor(CaptionedDataView view, DataViewRowCursor inner, IReadOnlyList<string>? captions) : DataViewRowCursor
    {
        public override DataViewSchema Schema => view.Schema;
        public override long Position => inner.Position;
        public override long Batch => inner.Batch;
        public override bool MoveNext() => inner.MoveNext();
        public override ValueGetter<DataViewRowId> GetIdGetter() => inner.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) =>
            column.Index == view.Schema.Count - 1 ? captions is not null : inner.IsColumnActive(inner.Schema[column.Index]);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index != view.Schema.Count - 1) return inner.GetGetter<TValue>(inner.Schema[column.Index]);
            if (captions is null) throw new InvalidOperationException($"column '{column.Name}' was not requested when this cursor was made");
            if (typeof(TValue) != typeof(ReadOnlyMemory<char>)) throw new InvalidOperationException($"column '{column.Name}' is text; asked for {typeof(TValue).Name}");
            ValueGetter<ReadOnlyMemory<char>> g = (ref ReadOnlyMemory<char> value) => value = captions[(int)inner.Position].AsMemory();
            return (ValueGetter<TValue>)(Delegate)g;
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
        dependingColumns.Any(c => c.Index == outputSchema.Count - 1)
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
            column.Index == Schema.Count - 1 || input.IsColumnActive(input.Schema[column.Index]);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index != Schema.Count - 1) return input.GetGetter<TValue>(input.Schema[column.Index]);
            // Generated on every call: a PredictionEngine reuses this row for each prediction.
            ValueGetter<ReadOnlyMemory<char>> g = (ref ReadOnlyMemory<char> value) =>
                value = mapper.Transformer.Caption([read(Math.Max(0, input.Position))])[0].AsMemory();
            return (ValueGetter<TValue>)(Delegate)g;
        }
    }

    DiffCaptionTransformer Transformer => transformer;
}
