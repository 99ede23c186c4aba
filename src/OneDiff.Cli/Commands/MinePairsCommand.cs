using System.CommandLine;
using System.Globalization;
using Microsoft.ML;
using OneDiff.Cli.Terminal;
using OneDiff.Data;
using OneDiff.Data.Construction;
using OneDiff.Data.Formats;
using OneDiff.Data.Readers;
using OneDiff.MLNet;

namespace OneDiff.Cli.Commands;

/// <summary>
/// <c>onediff data mine-pairs</c>: the paper's real pairs by CLIP retrieval, from single captioned
/// images (LLaVA format) to candidate pairs a chat model captions (docs/data.md).
/// </summary>
public static class MinePairsCommand
{
    public static Command Create()
    {
        var defaults = new ImagePairMiningOptions { ClipFolder = "" };
        var llava = new Option<string>("--llava") { Description = "captioned images in LLaVA's format (the first answer of each record is its caption)", Required = true };
        var images = new Option<string>("--images") { Description = "the folder the records' image paths are relative to", Required = true };
        var clip = new Option<string>("--clip") { Description = "a CLIPModel or CLIPVisionModelWithProjection folder (config.json, safetensors)", Required = true };
        var output = new Option<string>("--out") { Description = "the candidate pairs, DiffCap JSON lines with empty captions and a chat 'request' each", Required = true };
        var neighbors = new Option<int>("--neighbors") { Description = "partners each image may choose", DefaultValueFactory = _ => defaults.Neighbors };
        var min = new Option<double>("--min-similarity") { Description = "lowest CLIP cosine similarity of a pair", DefaultValueFactory = _ => defaults.MinSimilarity };
        var max = new Option<double>("--max-similarity") { Description = "similarity from which two images count as the same photo and are not paired", DefaultValueFactory = _ => defaults.MaxSimilarity };
        var batch = new Option<int>("--batch-size") { Description = "images embedded together", DefaultValueFactory = _ => defaults.BatchSize };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N", DefaultValueFactory = _ => defaults.Device };
        var skipBad = new Option<bool>("--skip-bad") { Description = "skip bad records and images, listing each, instead of stopping at the first" };
        var overlap = new Option<double>("--max-caption-overlap") { Description = "pairs whose captions share this share of their content words or more are not chosen (above 1 keeps all)", DefaultValueFactory = _ => defaults.MaxCaptionOverlap };
        var clipScore = new Option<double>("--min-clip-score") { Description = "leave out images whose CLIPScore against their caption is not over this (100 x 2.5 x cosine; the paper's 40)", DefaultValueFactory = _ => defaults.MinClipScore!.Value };
        var noClipScore = new Option<bool>("--no-clip-score") { Description = "keep every image, whatever its caption (no image-text filter; a CLIPVisionModelWithProjection folder then does)" };
        var template = new Option<string?>("--request-template") { Description = "a text file with your wording of the chat request, using {caption1} and {caption2}" };
        var dropped = new Option<string?>("--dropped") { Description = "where to list what the filters left out, with scores (default: beside --out, .dropped.jsonl)" };
        var embeddings = new Option<string?>("--embeddings") { Description = "a file keeping the image embeddings between runs (read when made from the same images and CLIP, written when absent): another band costs only the search" };
        var command = new Command("mine-pairs", "Pair similar captioned images by CLIP retrieval, for a chat model to write their difference captions")
        {
            llava, images, clip, output, neighbors, min, max, overlap, clipScore, noClipScore, template, dropped, batch, device, skipBad, embeddings,
        };
        CliAction.Set(command, (parse, cancel) =>
        {
            var options = new ImagePairMiningOptions
            {
                ClipFolder = parse.GetValue(clip)!, Neighbors = parse.GetValue(neighbors), MinSimilarity = parse.GetValue(min),
                MaxSimilarity = parse.GetValue(max), BatchSize = parse.GetValue(batch), Device = parse.GetValue(device)!, SkipBad = parse.GetValue(skipBad),
                EmbeddingsFile = parse.GetValue(embeddings), MaxCaptionOverlap = parse.GetValue(overlap),
                MinClipScore = parse.GetValue(noClipScore) ? null : parse.GetValue(clipScore),
            };
            var wording = parse.GetValue(template) is { } t ? RequestTemplate.Load(t, RequestTemplate.Real) : RequestTemplate.Real;
            // The values of the command line first (a usage error), the CLIP folder when it is read.
            UsageException.Check(() => (options with { ClipFolder = "." }).Check());
            UsageException.Check(() => OneDiff.Modeling.Runtime.DeviceSelector.Resolve(options.Device));
            var report = new DataReport(options.SkipBad ? BadInputMode.Skip : BadInputMode.Error);
            var captioned = new LlavaCaptionReader().Read(parse.GetValue(llava)!, parse.GetValue(images)!, report);
            foreach (var p in report.Skipped) Console.Error.WriteLine($"skipped {p}");

            var ml = new MLContext(seed: 1);
            var catalog = ml.DiffCaptioning();
            var mined = WorkProgress.Run("images", progress =>
            {
                ml.Log += (_, e) =>
                {
                    if (e.Source.StartsWith("OneDiff", StringComparison.Ordinal) && e.Kind is Microsoft.ML.Runtime.ChannelMessageKind.Info or Microsoft.ML.Runtime.ChannelMessageKind.Warning)
                        progress.Error(e.RawMessage);
                };
                void Show()
                {
                    if (catalog.Progress().FirstOrDefault(r => r.Name == "OneDiff mining") is { } r && r.Units.TryGetValue("images", out var images))
                        progress.Report("embedding images", images.Value, images.Limit ?? captioned.Count);
                }
                // The bar is there from the start unless the embeddings are read from their file.
                if (options.EmbeddingsFile is not { } saved || !File.Exists(saved)) progress.Report("embedding images", 0, captioned.Count);
                MinedPairs result;
                using (progress.Every(Show)) result = catalog.MineImagePairs(captioned, options, cancel);
                // Returned: every image was embedded (the channel closed before its last count was read).
                progress.Complete();
                return result;
            });
            string file = parse.GetValue(output)!;
            DiffCapCandidates.Write(file, mined.Candidates, wording);
            string droppedFile = parse.GetValue(dropped) ?? Path.ChangeExtension(file, null) + ".dropped.jsonl";
            WriteDropped(droppedFile, mined);
            Console.WriteLine($"wrote {N(mined.Candidates.Count)} candidate pair(s) from {N(captioned.Count)} images to {file}");
            Console.WriteLine($"left out {N(mined.ImagesUnlikeCaptions.Count)} image(s) unlike their caption and {N(mined.PairsWithAlikeCaptions.Count)} pair(s) with alike captions, each with its score, in {droppedFile}");
            Console.WriteLine("next: onediff data annotate --candidates " + file + " --endpoint URL --model M --out diffcap-real.jsonl (or data chat-requests for a batch server)");
            return ExitCodes.Success;
        });
        return command;
    }

    static string N(int n) => n.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>One JSON line per image or pair a filter left out, with the score it failed on.</summary>
    static void WriteDropped(string path, MinedPairs mined)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var w = new StreamWriter(path, false, new System.Text.UTF8Encoding(false));
        foreach (var i in mined.ImagesUnlikeCaptions)
            w.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { kind = "image", id = i.Id, image = i.Image, caption = i.Caption, clip_score = i.ClipScore }));
        foreach (var p in mined.PairsWithAlikeCaptions)
            w.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { kind = "pair", id = p.Id, similarity = p.Similarity, caption_overlap = p.CaptionOverlap }));
    }
}
