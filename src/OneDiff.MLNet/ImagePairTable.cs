using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using OneDiff.Data;
using OneDiff.Data.Images;
using OneDiff.Data.Readers;

namespace OneDiff.MLNet;

/// <summary>One row of an image-pair table: the record (paths may be empty when the images come as
/// bytes or pixels) and its two images.</summary>
public sealed record ImagePairRow(DiffCapRecord Record, ImageInput Image1, ImageInput Image2)
{
    /// <summary>How a problem names the row: "id X" for a record of a dataset; "row N" (with its id
    /// where the table has an id column) for a row of an IDataView.</summary>
    public string Where { get; init; } = $"id {Record.Id}";
}

/// <summary>
/// Reads image pairs out of an <see cref="IDataView"/> and builds one from DiffCap records. All
/// contact with column types is here; errors name the column.
/// </summary>
public static class ImagePairTable
{
    /// <summary>The schema a DiffCap record becomes.</summary>
    public sealed class PairRow
    {
        public string Id { get; set; } = "";
        public string Image1 { get; set; } = "";
        public string Image2 { get; set; } = "";
        public string Prompt { get; set; } = "";
        [VectorType] public string[] References { get; set; } = [];
        public string Task { get; set; } = "";
        public string Group { get; set; } = "";
    }

    public static IDataView FromRecords(MLContext ml, IEnumerable<DiffCapRecord> records) =>
        ml.Data.LoadFromEnumerable(records.Select(r => new PairRow
        {
            Id = r.Id, Image1 = r.Image1, Image2 = r.Image2, Prompt = r.Prompt, References = r.Captions.ToArray(), Task = r.Task, Group = r.Group ?? "",
        }).ToList());

    enum ImageKind { Path, Bytes, MLImage }

    static ImageKind KindOf(DataViewSchema.Column c) => c.Type switch
    {
        TextDataViewType => ImageKind.Path,
        VectorDataViewType { ItemType: NumberDataViewType n } when n.RawType == typeof(byte) => ImageKind.Bytes,
        ImageDataViewType => ImageKind.MLImage,
        _ => throw new ArgumentException($"column '{c.Name}' must hold image paths (text), image bytes (a vector of bytes) or images (MLImage), not {c.Type}"),
    };

    static DataViewSchema.Column Required(DataViewSchema schema, string name, string role) =>
        schema.GetColumnOrNull(name) ?? throw new ArgumentException($"the data has no column '{name}' ({role}); its columns are: {string.Join(", ", schema.Select(c => c.Name))}");

    static DataViewSchema.Column? Optional(DataViewSchema schema, string? name, string role, bool required = false)
    {
        if (name is null) return null;
        var c = schema.GetColumnOrNull(name);
        if (c is null && required) throw new ArgumentException($"the data has no column '{name}' ({role}); its columns are: {string.Join(", ", schema.Select(x => x.Name))}");
        return c;
    }

    /// <summary>Checks the columns without reading rows (for GetOutputSchema-style validation).</summary>
    public static void CheckSchema(DataViewSchema schema, ImagePairColumns columns, bool requireReferences)
    {
        KindOf(Required(schema, columns.Image1ColumnName, "first image"));
        KindOf(Required(schema, columns.Image2ColumnName, "second image"));
        if (Optional(schema, columns.ReferencesColumnName, "references", requireReferences) is { } refs
            && refs.Type is not (TextDataViewType or VectorDataViewType { ItemType: TextDataViewType }))
            throw new ArgumentException($"column '{refs.Name}' must be text or a vector of text (the references), not {refs.Type}");
        foreach (var (name, role) in new[] { (columns.PromptColumnName, "prompt"), (columns.TaskColumnName, "task"), (columns.GroupColumnName, "group"), (columns.IdColumnName, "id") })
            if (Optional(schema, name, role) is { } c && c.Type is not TextDataViewType)
                throw new ArgumentException($"column '{c.Name}' ({role}) must be text, not {c.Type}");
    }

    /// <summary>Reads every row. Missing prompts fall back to the task's prompt; a row without
    /// references is an error naming the row when references are required. With
    /// <paramref name="spill"/>, images that come in memory (MLImage pixels, encoded bytes) are put
    /// aside on disk rather than kept.</summary>
    public static IEnumerable<ImagePairRow> Read(IDataView data, ImagePairColumns columns, bool requireReferences, ImageSpill? spill = null)
    {
        CheckSchema(data.Schema, columns, requireReferences);
        var used = UsedColumns(data.Schema, columns);
        using var cursor = data.GetRowCursor(used);
        var read = RowReader(cursor, columns, requireReferences, spill);
        long row = 0;
        while (cursor.MoveNext()) yield return read(row++);
    }

    /// <summary>The input columns a pair needs (for cursors and dependencies).</summary>
    public static List<DataViewSchema.Column> UsedColumns(DataViewSchema schema, ImagePairColumns columns) =>
        new[] { columns.Image1ColumnName, columns.Image2ColumnName, columns.ReferencesColumnName, columns.PromptColumnName, columns.TaskColumnName, columns.GroupColumnName, columns.IdColumnName }
            .Where(n => n is not null).Select(n => schema.GetColumnOrNull(n!)).Where(c => c is not null).Select(c => c!.Value).ToList();

    /// <summary>A function reading the current row of <paramref name="row"/> (a cursor or a single row).</summary>
    public static Func<long, ImagePairRow> RowReader(DataViewRow row, ImagePairColumns columns, bool requireReferences, ImageSpill? spill = null)
    {
        var schema = row.Schema;
        var c1 = schema[columns.Image1ColumnName];
        var c2 = schema[columns.Image2ColumnName];
        var refs = Optional(schema, columns.ReferencesColumnName, "references");
        var image1 = ImageGetter(row, c1, spill);
        var image2 = ImageGetter(row, c2, spill);
        var references = refs is { } r ? TextsGetter(row, r) : null;
        var promptGet = TextGetter(row, Optional(schema, columns.PromptColumnName, "prompt"));
        var taskGet = TextGetter(row, Optional(schema, columns.TaskColumnName, "task"));
        var groupGet = TextGetter(row, Optional(schema, columns.GroupColumnName, "group"));
        var idGet = TextGetter(row, Optional(schema, columns.IdColumnName, "id"));
        return index =>
        {
            string? id = idGet?.Invoke() is { Length: > 0 } s ? s : null;
            string rowId = id ?? index.ToString(System.Globalization.CultureInfo.InvariantCulture);
            string where = id is null ? $"row {index}" : $"row {index} (id {id})";
            var captions = references?.Invoke().Where(x => !string.IsNullOrWhiteSpace(x)).ToList() ?? [];
            if (requireReferences && captions.Count == 0)
                throw new InvalidOperationException($"{where}: column '{columns.ReferencesColumnName}' holds no reference captions");
            string taskName = taskGet?.Invoke() is { Length: > 0 } t ? t : "diffcap";
            string promptText = promptGet?.Invoke() is { Length: > 0 } p ? p : TaskPrompts.For(taskName);
            var a = image1(where, $"column '{c1.Name}'");
            var b = image2(where, $"column '{c2.Name}'");
            var record = new DiffCapRecord(rowId, a.Path ?? "", b.Path ?? "", promptText, captions, taskName, groupGet?.Invoke() is { Length: > 0 } g ? g : null);
            return new ImagePairRow(record, a, b) { Where = where };
        };
    }

    /// <summary>Reads the current row's image of column <paramref name="c"/>; its arguments name the
    /// row and the image (for an image in memory, its column).</summary>
    static Func<string, string, ImageInput> ImageGetter(DataViewRow cursor, DataViewSchema.Column c, ImageSpill? spill)
    {
        switch (KindOf(c))
        {
            case ImageKind.Path:
                {
                    var g = cursor.GetGetter<ReadOnlyMemory<char>>(c);
                    ReadOnlyMemory<char> v = default;
                    return (_, _) => { g(ref v); return ImageInput.FromPath(v.ToString()); };
                }
            case ImageKind.Bytes:
                {
                    var g = cursor.GetGetter<VBuffer<byte>>(c);
                    VBuffer<byte> v = default;
                    return (_, name) =>
                    {
                        g(ref v);
                        var bytes = v.DenseValues().ToArray();
                        return spill is null ? ImageInput.FromBytes(bytes, name) : spill.AddEncoded(bytes, name);
                    };
                }
            default:
                {
                    var g = cursor.GetGetter<MLImage>(c);
                    MLImage v = null!;
                    return (where, name) =>
                    {
                        // ML.NET's LoadImages reads the file here, and its errors name neither the row
                        // nor the column (a bare FileNotFoundException): named here, with the file.
                        try { g(ref v); }
                        catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException or UnauthorizedAccessException)
                        {
                            string? file = e is FileNotFoundException { FileName: { } f } ? f : null;
                            string reason = file is null ? e.Message : e.Message.Replace(file, "").Replace("''", "").Trim().TrimEnd(':', '.').Trim();
                            throw new DataException(new DataProblem(where, file ?? name, $"{name} (LoadImages) could not read the image: {reason}"));
                        }
                        var rgb = ToRgb(v, name);
                        return spill is null ? ImageInput.FromPixels(rgb, name) : spill.Add(rgb, name);
                    };
                }
        }
    }

    static RgbImage ToRgb(MLImage image, string name)
    {
        if (image is null) throw new InvalidDataException($"{name}: no image");
        var px = image.Pixels;
        var rgb = new byte[image.Width * image.Height * 3];
        bool bgra = image.PixelFormat == MLPixelFormat.Bgra32;
        for (int i = 0; i < image.Width * image.Height; i++)
        {
            rgb[i * 3] = px[i * 4 + (bgra ? 2 : 0)];
            rgb[i * 3 + 1] = px[i * 4 + 1];
            rgb[i * 3 + 2] = px[i * 4 + (bgra ? 0 : 2)];
        }
        return new RgbImage(image.Width, image.Height, rgb);
    }

    static Func<string>? TextGetter(DataViewRow cursor, DataViewSchema.Column? c)
    {
        if (c is not { } col) return null;
        var g = cursor.GetGetter<ReadOnlyMemory<char>>(col);
        ReadOnlyMemory<char> v = default;
        return () => { g(ref v); return v.ToString(); };
    }

    static Func<List<string>> TextsGetter(DataViewRow cursor, DataViewSchema.Column c)
    {
        if (c.Type is TextDataViewType)
        {
            var one = TextGetter(cursor, c)!;
            return () => [one()];
        }
        var g = cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(c);
        VBuffer<ReadOnlyMemory<char>> v = default;
        return () => { g(ref v); return v.DenseValues().Select(x => x.ToString()).ToList(); };
    }
}
