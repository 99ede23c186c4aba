using Microsoft.ML;
using Microsoft.ML.Runtime;
using OneDiff.Data;
using OneDiff.Data.Formats;
using OneDiff.Data.Images;
using OneDiff.Data.Readers;
using OneDiff.Modeling.Checkpoints;
using OneDiff.Modeling.Models.Clip;
using OneDiff.Modeling.Retrieval;
using OneDiff.Modeling.Runtime;
using TorchSharp;

namespace OneDiff.MLNet;

/// <summary>How <see cref="DiffCaptioningCatalog.MineImagePairs"/> finds pairs. The band and the
/// neighbour count are our defaults: the paper names CLIP retrieval but not its thresholds.</summary>
public sealed record ImagePairMiningOptions
{
    /// <summary>A CLIPModel or CLIPVisionModelWithProjection folder (openai/clip-vit-large-patch14-336 in the paper).</summary>
    public required string ClipFolder { get; init; }
    /// <summary>Partners each image may choose (a pair chosen from both sides counts once).</summary>
    public int Neighbors { get; init; } = 1;
    /// <summary>Lowest cosine similarity of a pair: below it the two scenes have little in common.</summary>
    public double MinSimilarity { get; init; } = 0.8;
    /// <summary>Similarity from which two images count as the same photo (duplicates, crops) and are
    /// not paired; above 1 lets exact duplicates pair too.</summary>
    public double MaxSimilarity { get; init; } = 0.95;
    /// <summary>Images embedded together.</summary>
    public int BatchSize { get; init; } = 64;
    public string Device { get; init; } = "auto";
    /// <summary>Skip (and log) images that do not decode, instead of stopping at the first.</summary>
    public bool SkipBad { get; init; }
    /// <summary>A safetensors file keeping the image embeddings between runs, so that another band or
    /// neighbour count costs only the search: read when it was made from the same images (ids and
    /// paths) and the same CLIP, written when absent; made from others, it is an error.</summary>
    public string? EmbeddingsFile { get; init; }

    /// <summary>Throws an <see cref="ArgumentOutOfRangeException"/> for a value out of range, a
    /// <see cref="DirectoryNotFoundException"/> for a CLIP folder that is not there.</summary>
    public void Check()
    {
        if (Neighbors < 1) throw new ArgumentOutOfRangeException(null, $"{nameof(Neighbors)} must be 1 or more, not {Neighbors}");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(null, $"{nameof(BatchSize)} must be 1 or more, not {BatchSize}");
        if (!(MinSimilarity < MaxSimilarity))
            throw new ArgumentOutOfRangeException(null, $"the similarity band [{MinSimilarity}, {MaxSimilarity}) is empty");
        if (!Directory.Exists(ClipFolder)) throw new DirectoryNotFoundException($"{nameof(ClipFolder)} not found: {ClipFolder}");
    }
}

public sealed partial class DiffCaptioningCatalog
{
    /// <summary>
    /// The paper's real pairs by CLIP retrieval: embeds every captioned image with CLIP's image
    /// tower and pairs each with its most similar others inside the similarity band. The result,
    /// written with <see cref="DiffCapCandidates.Write"/>, is what a chat model turns into
    /// difference captions (from the two image captions) to make DiffCap training pairs.
    /// </summary>
    public List<DiffCapCandidate> MineImagePairs(IDataView images, ImagePairMiningOptions options, string imageColumnName = "Image", string captionColumnName = "Caption") =>
        MineImagePairs(ImageCaptionTable.Read(images ?? throw new ArgumentNullException(nameof(images)), imageColumnName, captionColumnName, "the image table"), options);

    /// <summary>The same over captioned images given as a list (ids kept in the candidates' ids);
    /// <paramref name="cancel"/> stops it between batches of images.</summary>
    public List<DiffCapCandidate> MineImagePairs(IReadOnlyList<ImageCaption> images, ImagePairMiningOptions options, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(options);
        options.Check();
        using var ch = Host.Start("MineImagePairs");
        var device = ResolveDevice(options.Device);
        string imagesPrint = Fingerprint(images.SelectMany(i => new[] { i.Id, i.Image }));
        string clipPrint = Fingerprint([File.ReadAllText(Path.Combine(options.ClipFolder, "config.json")),
            .. Directory.GetFiles(options.ClipFolder, "*.safetensors").Order(StringComparer.Ordinal).Select(f => $"{Path.GetFileName(f)} {new FileInfo(f).Length}")]);
        if (options.EmbeddingsFile is { } saved && File.Exists(saved))
        {
            using var file = SafetensorsFile.Open(saved);
            if (file.Metadata.GetValueOrDefault("images") != imagesPrint || file.Metadata.GetValueOrDefault("clip") != clipPrint)
                throw new InvalidDataException($"{saved}: the embeddings were made from other images or another CLIP; delete the file or name another");
            using var stored = file.Read("image_embeds", torch.ScalarType.Float32, device.ToTorch());
            long[] indices;
            using (var keptTensor = file.Read("kept")) indices = keptTensor.data<long>().ToArray();
            ch.Info(MessageSensitivity.None, $"read the embeddings of {indices.Length} of {images.Count} images from {saved}");
            return Pair(stored, indices.Select(i => images[(int)i]).ToList(), options, ch);
        }

        using var clip = ClipVisionModelWithProjection.FromFolder(options.ClipFolder, device.ToTorch(), device.DefaultDtype);
        var processor = new ClipImageProcessor(clip.Config.ImageSize);
        var report = new DataReport(options.SkipBad ? BadInputMode.Skip : BadInputMode.Error);
        var kept = new List<ImageCaption>(images.Count);
        var keptIndices = new List<long>(images.Count);
        var blocks = new List<torch.Tensor>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // A batch is decoded on worker threads while the one before it is embedded.
        (List<ImageCaption> Batch, float[][] Pixels, DataProblem?[] Problems) Decode(int start)
        {
            var batch = Enumerable.Range(start, Math.Min(options.BatchSize, images.Count - start)).Select(i => images[i]).ToList();
            var pixels = new float[batch.Count][];
            var problems = new DataProblem?[batch.Count];
            Parallel.For(0, batch.Count, i =>
            {
                try { pixels[i] = processor.Process(ImageInput.FromPath(batch[i].Image).Decode()); }
                catch (Exception e) when (e is InvalidDataException or FileNotFoundException or IOException or UnauthorizedAccessException)
                {
                    problems[i] = new DataProblem($"id {batch[i].Id}", batch[i].Image, e.Message.Replace(batch[i].Image + ": ", ""));
                }
            });
            return (batch, pixels, problems);
        }
        try
        {
            var next = images.Count > 0 ? Task.Run(() => Decode(0)) : null;
            for (int start = 0; start < images.Count; start += options.BatchSize)
            {
                cancel.ThrowIfCancellationRequested();
                var (batch, pixels, problems) = next!.GetAwaiter().GetResult();
                int following = start + options.BatchSize;
                next = following < images.Count ? Task.Run(() => Decode(following)) : null;
                var good = new List<float[]>();
                for (int i = 0; i < batch.Count; i++)
                {
                    if (problems[i] is { } p) { report.Problem(p.Record, p.File, p.Message); continue; }
                    good.Add(pixels[i]);
                    kept.Add(batch[i]);
                    keptIndices.Add(start + i);
                }
                if (good.Count == 0) continue;
                using (torch.no_grad())
                using (var scope = torch.NewDisposeScope())
                {
                    var x = HostToDevice.Images(good, processor.Size, device.DefaultDtype, device.ToTorch());
                    blocks.Add(clip.NormalizedImageEmbeds(x).to(torch.ScalarType.Float32).MoveToOuterDisposeScope());
                }
                int done = Math.Min(start + options.BatchSize, images.Count);
                if (done == images.Count || done / options.BatchSize % 50 == 0)
                    ch.Info(MessageSensitivity.None, $"embedded {done}/{images.Count} images ({done / Math.Max(1e-9, clock.Elapsed.TotalSeconds):F1}/s)");
            }
            foreach (var p in report.Skipped) ch.Warning(MessageSensitivity.None, $"skipped {p}");
            if (kept.Count < 2) throw new InvalidOperationException($"pair mining needs at least two readable images, {kept.Count} given");

            using var embeddings = torch.cat(blocks, 0);
            if (options.EmbeddingsFile is { } path)
            {
                using var cpu = embeddings.cpu();
                using var indices = torch.tensor(keptIndices.ToArray());
                SafetensorsWriter.Save(path, [new("image_embeds", cpu), new("kept", indices)],
                    new Dictionary<string, string> { ["images"] = imagesPrint, ["clip"] = clipPrint });
                ch.Info(MessageSensitivity.None, $"kept the embeddings in {path}");
            }
            return Pair(embeddings, kept, options, ch);
        }
        finally
        {
            foreach (var b in blocks) b.Dispose();
        }
    }

    static List<DiffCapCandidate> Pair(torch.Tensor embeddings, List<ImageCaption> kept, ImagePairMiningOptions options, IChannel ch)
    {
        var pairs = SimilarPairs.Find(embeddings, options.Neighbors, options.MinSimilarity, options.MaxSimilarity);
        ch.Info(MessageSensitivity.None, $"{pairs.Count} pair(s) with similarity in [{options.MinSimilarity}, {options.MaxSimilarity}) among {kept.Count} images");
        return pairs.Select(p => new DiffCapCandidate(kept[p.First], kept[p.Second], p.Similarity)).ToList();
    }

    static string Fingerprint(IEnumerable<string> parts)
    {
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var part in parts) { sha.AppendData(System.Text.Encoding.UTF8.GetBytes(part)); sha.AppendData([0]); }
        return Convert.ToHexString(sha.GetHashAndReset());
    }
}
