using Microsoft.ML;
using Microsoft.ML.Data;
using OneDiff.Metrics;

namespace OneDiff.MLNet;

public sealed partial class DiffCaptioningCatalog
{
    /// <summary>
    /// Scores generated captions against references exactly as pycocoevalcap does (PTB
    /// tokenisation, BLEU-1..4, METEOR 1.5, ROUGE-L, CIDEr-D). The references column holds a
    /// vector of text (or one text); the predicted column holds text; the optional group column
    /// (text) adds per-group metrics (rows with an empty group count overall only).
    /// <paramref name="bootstrapResamples"/> above 0 adds each score's 95% percentile bootstrap
    /// interval (<see cref="DiffCaptionMetrics.Interval"/>), overall and per group.
    /// </summary>
    public DiffCaptionMetrics Evaluate(IDataView data, string referencesColumnName = "References",
        string predictedCaptionColumnName = "PredictedCaption", string? groupColumnName = null, int bootstrapResamples = 0)
    {
        ArgumentNullException.ThrowIfNull(data);
        var schema = data.Schema;
        var refCol = Column(schema, referencesColumnName, "references");
        bool refsAreVector = refCol.Type is VectorDataViewType { ItemType: TextDataViewType };
        if (!refsAreVector && refCol.Type is not TextDataViewType)
            throw new ArgumentException($"column '{referencesColumnName}' must be text or a vector of text (the references), not {refCol.Type}", nameof(referencesColumnName));
        var predCol = Column(schema, predictedCaptionColumnName, "predicted caption");
        if (predCol.Type is not TextDataViewType)
            throw new ArgumentException($"column '{predictedCaptionColumnName}' must be text (the predicted caption), not {predCol.Type}", nameof(predictedCaptionColumnName));
        DataViewSchema.Column? groupCol = null;
        if (groupColumnName is not null)
        {
            groupCol = Column(schema, groupColumnName, "group");
            if (groupCol.Value.Type is not TextDataViewType)
                throw new ArgumentException($"column '{groupColumnName}' must be text (the group), not {groupCol.Value.Type}", nameof(groupColumnName));
        }

        var items = new List<CaptionItem>();
        var columns = new List<DataViewSchema.Column> { refCol, predCol };
        if (groupCol is { } gc) columns.Add(gc);
        using (var cursor = data.GetRowCursor(columns))
        {
            var predGetter = cursor.GetGetter<ReadOnlyMemory<char>>(predCol);
            var refVecGetter = refsAreVector ? cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(refCol) : null;
            var refGetter = refsAreVector ? null : cursor.GetGetter<ReadOnlyMemory<char>>(refCol);
            var groupGetter = groupCol is { } g ? cursor.GetGetter<ReadOnlyMemory<char>>(g) : null;
            ReadOnlyMemory<char> pred = default, single = default, group = default;
            VBuffer<ReadOnlyMemory<char>> refs = default;
            long row = 0;
            while (cursor.MoveNext())
            {
                predGetter(ref pred);
                List<string> references;
                if (refVecGetter is not null)
                {
                    refVecGetter(ref refs);
                    references = refs.DenseValues().Select(r => r.ToString()).ToList();
                }
                else
                {
                    refGetter!(ref single);
                    references = [single.ToString()];
                }
                if (references.Count == 0)
                    throw new InvalidOperationException($"row {row}: column '{referencesColumnName}' holds no reference captions");
                string? groupName = null;
                // An empty group (a table whose rows have none) counts in the overall scores only.
                if (groupGetter is not null) { groupGetter(ref group); groupName = group.IsEmpty ? null : group.ToString(); }
                items.Add(new CaptionItem(row.ToString(System.Globalization.CultureInfo.InvariantCulture), pred.ToString(), references, groupName));
                row++;
            }
        }
        if (items.Count == 0) throw new InvalidOperationException("the data view has no rows to evaluate");
        using var ch = Host.Start("Evaluate");
        var result = new CaptionEvaluator(new CaptionEvaluatorOptions { BootstrapResamples = bootstrapResamples }).Evaluate(items);
        ch.Info(Microsoft.ML.Runtime.MessageSensitivity.None, $"evaluated {items.Count} captions: CIDEr {result.Corpus.Cider * 100:F2}");
        return new DiffCaptionMetrics(result);
    }

    static DataViewSchema.Column Column(DataViewSchema schema, string name, string role)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return schema.GetColumnOrNull(name) ?? throw new ArgumentException(
            $"the data has no column '{name}' ({role}); its columns are: {string.Join(", ", schema.Select(c => c.Name))}", nameof(name));
    }
}
