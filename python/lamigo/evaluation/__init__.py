"""Evaluation: image quality metrics (PSNR, SSIM, ST-LPIPS, LPIPS, FID), classic codecs at
matched bandwidth, and the harness behind `lamigo eval` that reruns the paper's experiments
(`experiments` names the sweeps, `harness` runs them, `report` writes plots and report.md)."""
