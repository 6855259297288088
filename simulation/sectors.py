"""Sectors with their real NAF (APET) and IDCC codes, their posts and their contract habits.

Rates are per CDI employee per year unless stated. They are tuned so that the population as a whole
reproduces the public orders of magnitude of shared/DSN.md (see calibration.py), while each sector
keeps its known habits: one-day CDDs in hotels-restaurants, arts, care and training; temp work in
construction, logistics and industry; little precarity in IT.

PCS-ESE codes (S21.G00.40.004). Each canonical post has one code, shared by all its spellings (a job
title is free text, the code is not); payroll software declares it in lower case, a few in upper case
(see payroll.py). Distinct posts get distinct codes, except where the nomenclature itself groups them:
boulanger and pâtissier (636c), agent d'entretien and laveur de vitres (684a, with the restaurant
plongeur). The mapping, by the code's INSEE group:

    code  INSEE group (PCS-ESE)                                         canonical posts
    353b  directeurs, resp. de programmation et de production (spectacle) administrateur de production
    354c  artistes dramatiques                                           artiste
    388a  ingénieurs et cadres d'étude, R&D en informatique               developpeur
    388b  ingénieurs et cadres d'administration, support en informatique administrateur systemes
    388c  chefs de projets informatiques, responsables informatiques      chef de projet
    423b  formateurs et animateurs de formation continue                 formateur
    431f  infirmiers en soins généraux, salariés                          infirmier
    434a  cadres de l'intervention socio-éducative                        responsable de secteur
    434c  conseillers en économie sociale familiale                       conseiller en insertion
    435b  animateurs socioculturels et de loisirs                         animateur
    461e  maîtrise et techniciens administratifs du personnel            charge de recrutement
    462b  maîtrise de l'exploitation des magasins de vente                responsable de rayon
    463d  techniciens commerciaux en services auprès d'entreprises        commercial
    465b  assistants techniques de la réalisation des spectacles         regisseur
    477b  techniciens d'installation et de maintenance industrielle       technicien de maintenance
    478c  techniciens de maintenance, support aux utilisateurs (info.)    technicien support
    488b  maîtrise de l'hébergement : hall et étages                      gouvernante
    525d  agents de service hospitaliers                                  agent de service hospitalier
    526a  aides-soignants                                                 aide-soignant
    526d  aides médico-psychologiques, accompagnants éducatifs et sociaux auxiliaire de vie
    534a  agents civils de sécurité et de surveillance                    veilleur de nuit
    542a  secrétaires                                                     assistant de formation
    543d  employés administratifs qualifiés des autres services           assistant d'agence
    551a  employés de libre service du commerce et magasiniers            employe libre-service
    552a  caissiers de magasin                                            hote de caisse
    553a  vendeurs non spécialisés                                        vendeur
    554a  vendeurs en alimentation                                        vendeur en boulangerie
    561a  serveurs, commis de restaurant, garçons qualifiés               serveur
    561b  serveurs, commis de restaurant, garçons non qualifiés           employe polyvalent
    561c  aides de cuisine, apprentis de cuisine                          commis de cuisine
    561d  employés de l'hôtellerie : réception et hall                    receptionniste
    561e  employés d'étage et employés polyvalents de l'hôtellerie        femme de chambre
    563b  aides à domicile, aides ménagères, travailleuses familiales     aide a domicile
    621a  chefs d'équipe du gros oeuvre et des travaux publics            chef d'equipe
    621b  ouvriers qualifiés du travail du béton                          coffreur
    621c  conducteurs qualifiés d'engins de chantiers du BTP              conducteur d'engins
    623c  soudeurs qualifiés sur métaux                                   soudeur
    623f  opérateurs qualifiés d'usinage des métaux à l'unité             tourneur fraiseur
    632a  maçons qualifiés                                                macon
    633a  électriciens qualifiés de type artisanal (y.c. bâtiment)       electricien
    636c  boulangers, pâtissiers (sauf activité industrielle)             boulanger, patissier
    636d  cuisiniers et commis de cuisine                                 cuisinier
    637c  ouvriers et techniciens des spectacles vivants et audiovisuels  technicien du spectacle
    643a  conducteurs livreurs, coursiers                                 chauffeur livreur
    652a  conducteurs de chariots élévateurs, caristes                    cariste
    653a  magasiniers qualifiés                                           magasinier
    673a  ouvriers de production non qualifiés (enlèvement de métal)      operateur de production
    676a  manutentionnaires non qualifiés                                 manutentionnaire
    676c  ouvriers du tri, de l'emballage, de l'expédition, non qualifiés preparateur de commandes
    676d  agents non qualifiés des services d'exploitation des transports agent de quai
    681a  ouvriers non qualifiés du gros oeuvre du bâtiment               manoeuvre
    684a  nettoyeurs                                                      agent d'entretien, laveur de vitres,
                                                                          plongeur
"""

from __future__ import annotations

from dataclasses import dataclass

ABUSE_TYPES: tuple[str, ...] = (
    "poste_permanent",
    "carence",
    "faux_remplacement",
    "usage_hors_secteur",
    "interim_poste_permanent",
)

TEMP_WORKER_IDCC = "2378"  # personnels intérimaires des entreprises de travail temporaire


@dataclass(frozen=True)
class Post:
    """A job with its canonical name (recorded in truth) and the spellings payroll software uses."""

    canonical: str
    weight: float
    pcs: str  # PCS-ESE code (S21.G00.40.004)
    statut: str  # S21.G00.40.002: 04 cadre, 05 intermediate, 06 employee, 07 worker
    wage: float  # hourly wage as a multiple of the minimum wage
    spellings: tuple[str, ...]


def _post(canonical: str, weight: float, pcs: str, statut: str, wage: float, *spellings: str) -> Post:
    return Post(canonical, weight, pcs, statut, wage, spellings)


SERVEUR = _post("serveur", 0.35, "561a", "06", 1.04, "Serveur", "SERVEUR", "Serveur H/F", "serveuse",
                "Serveur(se)", "Serveur/Serveuse", "SERVEUSE", "Serveur salle")
CUISINIER = _post("cuisinier", 0.2, "636d", "07", 1.15, "Cuisinier", "CUISINIER", "Cuisinier H/F",
                  "Cuisinière", "Cuisinier(e)", "CUISINIER/CUISINIERE")
CHEF_EQUIPE = _post("chef d'equipe", 0.08, "621a", "05", 1.35, "Chef d'équipe", "CHEF D'EQUIPE",
                    "Chef d equipe", "Chef d'équipe H/F")
PREPARATEUR = _post("preparateur de commandes", 0.35, "676c", "07", 1.03, "Préparateur de commandes",
                    "PREPARATEUR DE COMMANDES", "Préparateur commandes", "Préparateur(trice) de commandes",
                    "PREPA COMMANDES")
AUXILIAIRE_VIE = _post("auxiliaire de vie", 0.25, "526d", "06", 1.03, "Auxiliaire de vie", "AUXILIAIRE DE VIE",
                       "AVS", "Auxiliaire de vie sociale", "Auxiliaire de vie H/F")
VENDEUR = _post("vendeur", 0.45, "553a", "06", 1.04, "Vendeur", "VENDEUR", "Vendeuse", "Vendeur H/F",
                "Vendeur(se)", "Conseiller de vente", "CONSEILLERE DE VENTE")


@dataclass(frozen=True)
class Sector:
    """A sector's codes, size, posts and habits (see module docstring for units)."""

    key: str
    label: str
    activities: tuple[tuple[str, str, float], ...]  # (NAF code, IDCC, weight)
    weight: float  # share of establishments
    size_median: float  # CDI headcount
    size_sigma: float
    posts: tuple[Post, ...]
    usage_allowed: bool = False  # CDD d'usage allowed (D1242-1)
    idcc_over_10: str | None = None  # IDCC for establishments of more than 10 employees, when it differs
    cdi_turnover: float = 0.12
    part_time_share: float = 0.2
    sick_spells: float = 0.6
    cover_long: float = 0.3  # probability an absence of 3+ days is covered by a replacement
    cover_short: float = 0.05  # same for 1-2 days
    cover_by_vacations: float = 0.0  # probability a covered absence is covered by successive short contracts
    peak_rate: float = 0.4  # ATA episodes per establishment-year, times size**0.6
    peak_workers: float = 0.5  # extra workers per episode, times size**0.5
    peak_median_days: float = 10.0
    long_ata_share: float = 0.12  # share of ATA contracts of several months
    temp_share: float = 0.0  # share of ATA and replacement needs filled by temp missions
    usage_rate: float = 0.0  # CDD d'usage per CDI employee per year (allowed sectors only)
    usage_one_day: float = 0.7
    seasonal_tourist: float = 0.0  # probability of being a seasonal establishment in a tourist area
    seasonal_other: float = 0.0
    abuse_logit: float = 0.0  # sector effect on the latent abuse propensity (log-odds)
    abuse_types: tuple[tuple[str, float], ...] = ()

    def idcc_for(self, base_idcc: str, size: int) -> str:
        return self.idcc_over_10 if self.idcc_over_10 and size > 10 else base_idcc


SECTORS: tuple[Sector, ...] = (
    Sector(
        key="restaurants", label="Restaurants",
        activities=(("5610A", "1979", 0.6), ("5610C", "1501", 0.4)),
        weight=0.16, size_median=3.5, size_sigma=0.9,
        posts=(SERVEUR, CUISINIER,
               _post("commis de cuisine", 0.15, "561c", "07", 1.0, "Commis de cuisine", "COMMIS DE CUISINE",
                     "Commis cuisine", "commis de cuisine H/F", "Commis"),
               _post("plongeur", 0.15, "684a", "07", 1.0, "Plongeur", "PLONGEUR", "Plongeur H/F",
                     "Plongeur(se)", "Aide plonge"),
               _post("employe polyvalent", 0.15, "561b", "06", 1.0, "Employé polyvalent", "EMPLOYE POLYVALENT",
                     "Employé(e) polyvalent(e)", "Equipier polyvalent", "EQUIPIER", "Équipier")),
        usage_allowed=True, cdi_turnover=0.36, part_time_share=0.35, sick_spells=0.5,
        cover_long=0.3, cover_short=0.1, peak_rate=0.5, peak_workers=0.6, peak_median_days=4,
        temp_share=0.04, usage_rate=1.0, usage_one_day=0.55, seasonal_tourist=0.3, seasonal_other=0.04,
        abuse_logit=0.3,
        abuse_types=(("poste_permanent", 0.35), ("carence", 0.35), ("faux_remplacement", 0.3)),
    ),
    Sector(
        key="hotels", label="Hotels",
        activities=(("5510Z", "1979", 1.0),),
        weight=0.04, size_median=6, size_sigma=0.9,
        posts=(_post("receptionniste", 0.25, "561d", "06", 1.05, "Réceptionniste", "RECEPTIONNISTE",
                     "Réceptionniste H/F", "Receptionniste", "Agent de réception"),
               _post("femme de chambre", 0.35, "561e", "06", 1.0, "Femme de chambre", "FEMME DE CHAMBRE",
                     "Valet de chambre", "Femme de chambre/Valet", "Employé d'étage", "EMPLOYE(E) D'ETAGE"),
               SERVEUR, CUISINIER,
               _post("veilleur de nuit", 0.08, "534a", "06", 1.05, "Veilleur de nuit", "VEILLEUR DE NUIT",
                     "Veilleur nuit", "Night auditor"),
               _post("gouvernante", 0.05, "488b", "05", 1.2, "Gouvernante", "GOUVERNANTE", "Gouvernante d'étage")),
        usage_allowed=True, cdi_turnover=0.32, part_time_share=0.25, sick_spells=0.6,
        cover_long=0.35, cover_short=0.1, peak_rate=0.4, peak_workers=0.5, peak_median_days=5,
        temp_share=0.05, usage_rate=0.7, usage_one_day=0.55, seasonal_tourist=0.5, seasonal_other=0.08,
        abuse_logit=0.1,
        abuse_types=(("poste_permanent", 0.4), ("carence", 0.3), ("faux_remplacement", 0.3)),
    ),
    Sector(
        key="care_homes", label="Care homes (EHPAD)",
        activities=(("8710A", "2264", 0.6), ("8710A", "0029", 0.4)),
        weight=0.035, size_median=25, size_sigma=0.6,
        posts=(_post("aide-soignant", 0.4, "526a", "06", 1.08, "Aide-soignant", "AIDE SOIGNANT", "Aide-soignante",
                     "Aide soignant(e)", "AS", "Aide-soignant H/F"),
               _post("agent de service hospitalier", 0.25, "525d", "06", 1.0, "Agent de service hospitalier",
                     "ASH", "A.S.H.", "Agent de service", "AGENT DE SERVICE HOSPITALIER",
                     "Agent des services hospitaliers"),
               _post("infirmier", 0.15, "431f", "05", 1.45, "Infirmier", "INFIRMIERE", "Infirmière", "IDE",
                     "Infirmier diplômé d'état", "Infirmier(e)"),
               AUXILIAIRE_VIE, CUISINIER,
               _post("animateur", 0.05, "435b", "05", 1.1, "Animateur", "Animatrice", "ANIMATEUR",
                     "Animateur(trice)")),
        cdi_turnover=0.2, part_time_share=0.3, sick_spells=1.1, cover_long=0.8, cover_short=0.2,
        cover_by_vacations=0.25, peak_rate=0.3, peak_workers=0.2, peak_median_days=7, long_ata_share=0.4,
        temp_share=0.05,
        abuse_logit=0.2,
        abuse_types=(("faux_remplacement", 0.5), ("poste_permanent", 0.35), ("carence", 0.15)),
    ),
    Sector(
        key="retail", label="Retail",
        activities=(("4711D", "2216", 0.35), ("4771Z", "1483", 0.65)),
        weight=0.15, size_median=4, size_sigma=1.0,
        posts=(VENDEUR,
               _post("employe libre-service", 0.2, "551a", "06", 1.02, "Employé libre service",
                     "EMPLOYE LIBRE SERVICE", "ELS", "Employé(e) libre-service", "Employé de rayon"),
               _post("hote de caisse", 0.2, "552a", "06", 1.02, "Hôte de caisse", "Hôtesse de caisse",
                     "HOTESSE DE CAISSE", "Caissier", "Caissière", "Employé(e) de caisse"),
               _post("responsable de rayon", 0.1, "462b", "05", 1.3, "Responsable de rayon", "RESPONSABLE RAYON",
                     "Chef de rayon", "Manager de rayon"),
               PREPARATEUR),
        cdi_turnover=0.23, part_time_share=0.35, sick_spells=0.7, cover_long=0.3, cover_short=0.03,
        peak_rate=0.8, peak_workers=0.5, peak_median_days=12, long_ata_share=0.3, temp_share=0.12,
        abuse_logit=0.3,
        abuse_types=(("carence", 0.35), ("poste_permanent", 0.3), ("usage_hors_secteur", 0.15),
                     ("interim_poste_permanent", 0.1), ("faux_remplacement", 0.1)),
    ),
    Sector(
        key="construction", label="Construction",
        activities=(("4120A", "1596", 0.3), ("4399C", "1596", 0.7)),
        idcc_over_10="1597", weight=0.15, size_median=4, size_sigma=0.9,
        posts=(_post("macon", 0.35, "632a", "07", 1.12, "Maçon", "MACON", "Maçon N2P2", "Ouvrier maçon",
                     "Maçon qualifié", "MAÇON"),
               _post("manoeuvre", 0.25, "681a", "07", 1.0, "Manoeuvre", "MANOEUVRE", "Aide maçon",
                     "Ouvrier d'exécution", "MANOEUVRE BTP"),
               _post("coffreur", 0.15, "621b", "07", 1.12, "Coffreur", "COFFREUR", "Coffreur bancheur",
                     "Coffreur-boiseur"),
               CHEF_EQUIPE,
               _post("conducteur d'engins", 0.1, "621c", "07", 1.15, "Conducteur d'engins", "CONDUCTEUR D'ENGINS",
                     "Conducteur engins", "Chauffeur d'engins"),
               _post("electricien", 0.07, "633a", "07", 1.15, "Électricien", "ELECTRICIEN",
                     "Electricien bâtiment", "Électricien H/F")),
        cdi_turnover=0.17, part_time_share=0.04, sick_spells=0.5, cover_long=0.15, cover_short=0.0,
        peak_rate=1.4, peak_workers=0.8, peak_median_days=15, long_ata_share=0.2, temp_share=0.82,
        abuse_logit=0.0,
        abuse_types=(("interim_poste_permanent", 0.6), ("usage_hors_secteur", 0.15), ("poste_permanent", 0.15),
                     ("carence", 0.1)),
    ),
    Sector(
        key="logistics", label="Logistics and warehousing",
        activities=(("5210B", "0016", 0.7), ("4941A", "0016", 0.3)),
        weight=0.05, size_median=12, size_sigma=0.9,
        posts=(PREPARATEUR,
               _post("cariste", 0.25, "652a", "07", 1.06, "Cariste", "CARISTE", "Cariste CACES 3", "Cariste H/F",
                     "Conducteur de chariot"),
               _post("manutentionnaire", 0.2, "676a", "07", 1.0, "Manutentionnaire", "MANUTENTIONNAIRE",
                     "Agent de manutention", "Manutentionnaire H/F"),
               _post("chauffeur livreur", 0.12, "643a", "07", 1.08, "Chauffeur livreur", "CHAUFFEUR LIVREUR",
                     "Chauffeur-livreur", "Livreur", "Conducteur PL"),
               _post("agent de quai", 0.08, "676d", "07", 1.0, "Agent de quai", "AGENT DE QUAI", "Agent quai"),
               CHEF_EQUIPE),
        cdi_turnover=0.22, part_time_share=0.05, sick_spells=0.8, cover_long=0.3, cover_short=0.05,
        peak_rate=1.5, peak_workers=0.8, peak_median_days=8, temp_share=0.85,
        abuse_logit=0.4,
        abuse_types=(("interim_poste_permanent", 0.5), ("carence", 0.2), ("poste_permanent", 0.15),
                     ("usage_hors_secteur", 0.15)),
    ),
    Sector(
        key="cleaning", label="Cleaning",
        activities=(("8121Z", "3043", 1.0),),
        weight=0.05, size_median=7, size_sigma=1.1,
        posts=(_post("agent d'entretien", 0.75, "684a", "06", 1.0, "Agent d'entretien", "AGENT D ENTRETIEN",
                     "AGENT D'ENTRETIEN", "Agent de propreté", "Agent(e) d'entretien", "Agent de nettoyage"),
               _post("laveur de vitres", 0.12, "684a", "07", 1.05, "Laveur de vitres", "LAVEUR DE VITRES",
                     "Laveur vitres"),
               CHEF_EQUIPE),
        cdi_turnover=0.29, part_time_share=0.6, sick_spells=0.9, cover_long=0.5, cover_short=0.15,
        cover_by_vacations=0.1, peak_rate=0.4, peak_workers=0.4, peak_median_days=7, long_ata_share=0.3,
        temp_share=0.08,
        abuse_logit=0.6,
        # No délai de carence in the branch (IDCC 3043, features.branch_agreements): no carence to abuse.
        abuse_types=(("faux_remplacement", 0.3), ("usage_hors_secteur", 0.3), ("poste_permanent", 0.4)),
    ),
    Sector(
        key="bakeries", label="Bakeries",
        activities=(("1071C", "0843", 1.0),),
        weight=0.08, size_median=3.5, size_sigma=0.7,
        posts=(_post("boulanger", 0.35, "636c", "07", 1.1, "Boulanger", "BOULANGER", "Ouvrier boulanger",
                     "Boulanger H/F", "Boulanger(e)"),
               _post("vendeur en boulangerie", 0.4, "554a", "06", 1.0, "Vendeuse", "VENDEUSE",
                     "Vendeur(se) en boulangerie", "Vendeuse boulangerie", "Vendeur"),
               _post("patissier", 0.25, "636c", "07", 1.1, "Pâtissier", "PATISSIER", "Ouvrier pâtissier",
                     "Pâtissière")),
        cdi_turnover=0.29, part_time_share=0.3, sick_spells=0.5, cover_long=0.25, cover_short=0.02,
        peak_rate=0.35, peak_workers=0.4, peak_median_days=10, temp_share=0.02, seasonal_tourist=0.05,
        abuse_logit=0.0,
        abuse_types=(("poste_permanent", 0.35), ("carence", 0.25), ("usage_hors_secteur", 0.25),
                     ("faux_remplacement", 0.15)),
    ),
    Sector(
        key="metalwork", label="Metalwork and machining",
        activities=(("2562B", "3248", 1.0),),
        weight=0.05, size_median=9, size_sigma=1.0,
        posts=(_post("operateur de production", 0.35, "673a", "07", 1.05, "Opérateur de production",
                     "OPERATEUR DE PRODUCTION", "Opérateur prod", "Opérateur(trice) de production",
                     "Agent de production"),
               _post("soudeur", 0.2, "623c", "07", 1.15, "Soudeur", "SOUDEUR", "Soudeur TIG", "Soudeur H/F"),
               _post("tourneur fraiseur", 0.15, "623f", "07", 1.18, "Tourneur fraiseur", "TOURNEUR-FRAISEUR",
                     "Tourneur", "Usineur", "Tourneur-fraiseur H/F"),
               _post("technicien de maintenance", 0.15, "477b", "05", 1.35, "Technicien de maintenance",
                     "TECHNICIEN MAINTENANCE", "Technicien maintenance H/F"),
               _post("magasinier", 0.1, "653a", "07", 1.02, "Magasinier", "MAGASINIER", "Magasinier H/F")),
        cdi_turnover=0.11, part_time_share=0.04, sick_spells=0.6, cover_long=0.15, cover_short=0.0,
        peak_rate=1.0, peak_workers=0.6, peak_median_days=20, long_ata_share=0.25, temp_share=0.75,
        abuse_logit=-0.3,
        abuse_types=(("interim_poste_permanent", 0.5), ("poste_permanent", 0.3), ("carence", 0.2)),
    ),
    Sector(
        key="it", label="IT services",
        activities=(("6201Z", "1486", 1.0),),
        weight=0.08, size_median=4, size_sigma=1.1,
        posts=(_post("developpeur", 0.5, "388a", "04", 2.3, "Développeur", "DEVELOPPEUR", "Développeur informatique",
                     "Developpeur web", "Ingénieur développement", "Développeur H/F"),
               _post("chef de projet", 0.2, "388c", "04", 2.8, "Chef de projet", "CHEF DE PROJET",
                     "Chef de projet informatique", "Chef de projet IT"),
               _post("technicien support", 0.2, "478c", "05", 1.4, "Technicien support", "TECHNICIEN SUPPORT",
                     "Technicien helpdesk", "Technicien informatique"),
               _post("administrateur systemes", 0.1, "388b", "04", 2.4, "Administrateur systèmes",
                     "ADMINISTRATEUR SYSTEME", "Admin sys", "Administrateur systèmes et réseaux")),
        cdi_turnover=0.17, part_time_share=0.05, sick_spells=0.3, cover_long=0.03, cover_short=0.0,
        peak_rate=0.08, peak_workers=0.2, peak_median_days=90, long_ata_share=0.6, temp_share=0.3,
        abuse_logit=-0.8,
        abuse_types=(("poste_permanent", 0.6), ("interim_poste_permanent", 0.2), ("usage_hors_secteur", 0.2)),
    ),
    Sector(
        key="training", label="Adult training",
        activities=(("8559A", "1516", 1.0),),
        weight=0.04, size_median=3, size_sigma=1.0,
        posts=(_post("formateur", 0.6, "423b", "05", 1.6, "Formateur", "FORMATEUR", "Formatrice",
                     "Formateur(trice)", "Formateur vacataire", "Formateur H/F"),
               _post("assistant de formation", 0.2, "542a", "06", 1.1, "Assistant de formation",
                     "ASSISTANTE DE FORMATION", "Assistante formation"),
               _post("conseiller en insertion", 0.2, "434c", "05", 1.3, "Conseiller en insertion",
                     "CONSEILLER INSERTION PROFESSIONNELLE", "Conseillère en insertion")),
        usage_allowed=True, cdi_turnover=0.2, part_time_share=0.3, sick_spells=0.5, cover_long=0.1,
        peak_rate=0.2, peak_workers=0.3, peak_median_days=30, usage_rate=1.2, usage_one_day=0.45,
        abuse_logit=0.0,
        abuse_types=(("poste_permanent", 0.5), ("carence", 0.3), ("faux_remplacement", 0.2)),
    ),
    Sector(
        key="performing_arts", label="Performing arts",
        activities=(("9001Z", "3090", 1.0),),
        weight=0.03, size_median=2, size_sigma=0.9,
        posts=(_post("technicien du spectacle", 0.35, "637c", "07", 1.3, "Technicien du spectacle",
                     "TECHNICIEN SPECTACLE", "Technicien plateau", "Machiniste"),
               _post("artiste", 0.35, "354c", "05", 1.5, "Artiste interprète", "ARTISTE", "Comédien",
                     "Comédienne", "Artiste dramatique"),
               _post("regisseur", 0.15, "465b", "05", 1.5, "Régisseur", "REGISSEUR GENERAL", "Régisseur général",
                     "Regisseur"),
               _post("administrateur de production", 0.15, "353b", "04", 1.8, "Administrateur de production",
                     "ADMINISTRATRICE DE PRODUCTION", "Chargé de production")),
        usage_allowed=True, cdi_turnover=0.22, part_time_share=0.2, sick_spells=0.3, cover_long=0.1,
        peak_rate=0.1, peak_workers=0.2, usage_rate=3.5, usage_one_day=0.45,
        abuse_logit=-0.3,
        abuse_types=(("poste_permanent", 0.6), ("carence", 0.4)),
    ),
    Sector(
        key="home_help", label="Home help",
        activities=(("8810A", "2941", 1.0),),
        weight=0.04, size_median=15, size_sigma=0.8,
        posts=(_post("aide a domicile", 0.6, "563b", "06", 1.0, "Aide à domicile", "AIDE A DOMICILE",
                     "Aide-à-domicile", "Aide ménagère", "Intervenante à domicile", "Aide à domicile H/F"),
               AUXILIAIRE_VIE,
               _post("responsable de secteur", 0.1, "434a", "05", 1.35, "Responsable de secteur",
                     "RESPONSABLE DE SECTEUR", "Resp. secteur")),
        cdi_turnover=0.29, part_time_share=0.65, sick_spells=1.0, cover_long=0.5, cover_short=0.15,
        cover_by_vacations=0.2, peak_rate=0.25, peak_workers=0.3, peak_median_days=10, long_ata_share=0.3,
        abuse_logit=0.2,
        abuse_types=(("faux_remplacement", 0.4), ("poste_permanent", 0.35), ("usage_hors_secteur", 0.25)),
    ),
    Sector(
        key="temp_agency", label="Temp-work agencies",
        activities=(("7820Z", "1413", 1.0),),
        weight=0.02, size_median=4, size_sigma=0.5,
        posts=(_post("charge de recrutement", 0.5, "461e", "05", 1.4, "Chargé de recrutement",
                     "CHARGEE DE RECRUTEMENT", "Chargé(e) de recrutement"),
               _post("assistant d'agence", 0.3, "543d", "06", 1.1, "Assistant d'agence", "ASSISTANTE D'AGENCE",
                     "Assistante d'agence intérim"),
               _post("commercial", 0.2, "463d", "05", 1.5, "Commercial", "COMMERCIALE", "Attaché commercial",
                     "Chargé d'affaires")),
        cdi_turnover=0.29, part_time_share=0.05, sick_spells=0.5, cover_long=0.1, peak_rate=0.0,
        abuse_logit=-9.0,
    ),
)

SECTOR_BY_KEY: dict[str, Sector] = {sector.key: sector for sector in SECTORS}
TEMP_AGENCY = SECTOR_BY_KEY["temp_agency"]


def _unique_posts() -> tuple[Post, ...]:
    seen: dict[str, Post] = {}
    for sector in SECTORS:
        for post in sector.posts:
            seen.setdefault(post.canonical, post)
    return tuple(seen.values())


POSTS: tuple[Post, ...] = _unique_posts()
POST_ID: dict[str, int] = {post.canonical: i for i, post in enumerate(POSTS)}
