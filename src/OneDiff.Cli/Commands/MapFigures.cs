using OneDiff.Data;
using OneDiff.Data.Images;
using OneDiff.Data.Localization;
using OneDiff.MLNet;

namespace OneDiff.Cli.Commands;

/// <summary>The change-map pictures <c>caption --map/--maps</c> write.</summary>
internal static class MapFigures
{
    /// <summary>The pair side by side, each image with its map over it, the caption under them.</summary>
    public static void Write(string path, DiffCaptionTransformer transformer, DiffCapRecord record, CaptionOutcome outcome)
    {
        var map = outcome.Map ?? throw new InvalidOperationException($"id {record.Id}: captioned without a change map");
        var before = ImageDecoder.Decode(record.Image1);
        var after = ImageDecoder.Decode(record.Image2);
        var figure = ChangeMapFigure.Compose(before, after, map, Grid(transformer, before), Grid(transformer, after), outcome.Caption);
        ImageDecoder.SavePng(figure, path);
    }

    /// <summary>Where the model's patches lie in an image of this size.</summary>
    static PatchGrid Grid(DiffCaptionTransformer transformer, RgbImage image) => transformer.MapGrid(image.Width, image.Height);

    /// <summary>A pair's file name: its id, with characters a file name cannot hold replaced.</summary>
    public static string FileName(string id) =>
        string.Concat(id.Select(c => Path.GetInvalidFileNameChars().Contains(c) || c is '/' or '\\' or ':' ? '_' : c)) + ".png";
}
