using Microsoft.ML;
using Microsoft.ML.Data;
using OneDiff.Data.Readers;

namespace OneDiff.MLNet;

/// <summary>Single captioned images out of an <see cref="IDataView"/> (an image-path column and a
/// caption column, as <see cref="DiffCaptioningCatalog.LoadImageCaptions"/> gives them); errors
/// name the table, the column and the row.</summary>
internal static class ImageCaptionTable
{
    public static List<ImageCaption> Read(IDataView data, string imageColumnName, string captionColumnName, string table)
    {
        var schema = data.Schema;
        var image = schema.GetColumnOrNull(imageColumnName) ?? throw new ArgumentException($"{table} has no column '{imageColumnName}' (image path)");
        var caption = schema.GetColumnOrNull(captionColumnName) ?? throw new ArgumentException($"{table} has no column '{captionColumnName}' (caption)");
        if (image.Type is not TextDataViewType) throw new ArgumentException($"{table} column '{image.Name}' must be text (an image path), not {image.Type}");
        if (caption.Type is not TextDataViewType) throw new ArgumentException($"{table} column '{caption.Name}' must be text, not {caption.Type}");
        var list = new List<ImageCaption>();
        using var cursor = data.GetRowCursor([image, caption]);
        var gi = cursor.GetGetter<ReadOnlyMemory<char>>(image);
        var gc = cursor.GetGetter<ReadOnlyMemory<char>>(caption);
        ReadOnlyMemory<char> vi = default, vc = default;
        long row = 0;
        while (cursor.MoveNext())
        {
            gi(ref vi); gc(ref vc);
            if (vc.Span.Trim().Length == 0) throw new InvalidOperationException($"{table} row {row}: column '{caption.Name}' is empty");
            list.Add(new ImageCaption($"{row}", vi.ToString(), vc.ToString()));
            row++;
        }
        return list;
    }
}
